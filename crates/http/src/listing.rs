//! Listing endpoints' query parameters, as RabbitMQ's `rabbit_mgmt_util` reads them:
//! `page`/`page_size` (paged replies, where `name`/`use_regex` filter), `sort` (a
//! dotted field path)/`sort_reverse`, and `columns` (the fields to keep).
//!
//! Items are sorted and filtered by name before they become JSON when they can be, so
//! a page of 100 out of 100,000 queues serialises 100 queues, not 100,000.

use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

/// One item of a listing.
pub trait Listed {
    fn name(&self) -> &str;
    /// Listings come sorted by vhost, then name.
    fn vhost(&self) -> &str {
        ""
    }
    fn to_json(&self) -> Value;
    /// Orders items that share a vhost and a name (the bindings of one source),
    /// so that sorted pages neither overlap nor skip items.
    fn tiebreak(&self, _other: &Self) -> Ordering {
        Ordering::Equal
    }
    /// Appends the item's JSON to `out`. Items of big listings override it to
    /// serialise without building a `Value`.
    fn write_json(&self, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(out, &self.to_json());
    }
    /// The field at `path` (for `sort`); items of big listings override it to
    /// answer common fields without building their JSON.
    fn sort_value(&self, path: &[&str]) -> Option<Value> {
        lookup(&self.to_json(), path).cloned()
    }
}

/// A listing serialised straight to bytes (see `list_fast`).
pub struct Listing(pub Vec<u8>);

impl axum::response::IntoResponse for Listing {
    fn into_response(self) -> axum::response::Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// `list`, serialised item by item into one buffer: no `Value` per item unless
/// `columns` asks for a selection. For listings of 100,000 queues.
pub fn list_fast<T: Listed>(mut items: Vec<T>, params: &Params) -> ApiResult<Listing> {
    let paging = paging(params)?;
    let sort = params.get("sort").filter(|s| !s.is_empty());
    let reverse = flag(params, "sort_reverse");
    let columns = columns(params);
    let total = items.len();
    if let Some(filter) = paging.as_ref().and_then(|p| p.filter.as_ref()) {
        items.retain(|i| filter.matches(i.name()));
    }
    let filtered = items.len();
    let window = paging
        .as_ref()
        .map_or(0..filtered, |p| page_window(p, filtered));
    match sort.map(String::as_str) {
        None | Some("name") => {
            let descending = sort.is_some() && reverse;
            let order = |a: &T, b: &T| {
                let o = by_vhost_and_name(a, b).then_with(|| a.tiebreak(b));
                if descending {
                    o.reverse()
                } else {
                    o
                }
            };
            sort_window(&mut items, window.clone(), order);
        }
        Some(field) => {
            let path: Vec<&str> = field.split('.').collect();
            let mut keyed: Vec<(Option<Value>, T)> = items
                .into_iter()
                .map(|i| (i.sort_value(&path), i))
                .collect();
            // Ties in name order: a total order, so that pages neither overlap nor
            // skip items when many share a value (100,000 empty queues sorted by
            // messages), and only the page's window needs sorting.
            let order = |a: &(Option<Value>, T), b: &(Option<Value>, T)| {
                let o = compare(a.0.as_ref(), b.0.as_ref())
                    .then_with(|| by_vhost_and_name(&a.1, &b.1))
                    .then_with(|| a.1.tiebreak(&b.1));
                if reverse {
                    o.reverse()
                } else {
                    o
                }
            };
            sort_window(&mut keyed, window.clone(), order);
            items = keyed.into_iter().map(|(_, i)| i).collect();
        }
    }
    write_listing(
        &items[window],
        paging.as_ref(),
        filtered,
        total,
        columns.as_deref(),
    )
}

/// The reply for the items `shown`: a JSON array, or with `paging` RabbitMQ's
/// paged object (`filtered` and `total` being the counts before paging).
fn write_listing<T: Listed>(
    shown: &[T],
    paging: Option<&Paging>,
    filtered: usize,
    total: usize,
    columns: Option<&[String]>,
) -> ApiResult<Listing> {
    let mut out = Vec::with_capacity(64 + shown.len() * 700);
    let write_items = |out: &mut Vec<u8>| {
        out.push(b'[');
        for (n, item) in shown.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            match columns {
                Some(columns) => {
                    let _ = serde_json::to_writer(&mut *out, &select(&item.to_json(), columns));
                }
                None => item.write_json(out),
            }
        }
        out.push(b']');
    };
    let Some(p) = paging else {
        write_items(&mut out);
        return Ok(Listing(out));
    };
    let page_count = (filtered as u64).div_ceil(p.page_size);
    if p.page > page_count && filtered > 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "page_out_of_range",
            format!(
                "Page out of range, page: {} page size: {}, len: {filtered}",
                p.page, p.page_size
            ),
        ));
    }
    out.extend_from_slice(
        format!(
            "{{\"filtered_count\":{filtered},\"item_count\":{},\"items\":",
            shown.len()
        )
        .as_bytes(),
    );
    write_items(&mut out);
    out.extend_from_slice(
        format!(
            ",\"page\":{},\"page_count\":{page_count},\"page_size\":{},\"total_count\":{total}}}",
            p.page, p.page_size
        )
        .as_bytes(),
    );
    Ok(Listing(out))
}

/// `list_fast` for items that come in groups already in listing order (a
/// group's items order only among themselves), counted before they are made: a
/// page in that order (no `name` filter, no `sort`) makes only the groups it
/// reaches, so page 1 of 200,000 bindings copies the first source's, not all.
/// Any other request makes every group and goes to `list_fast`.
pub fn list_grouped<T: Listed, G>(
    groups: Vec<(usize, G)>,
    make: impl Fn(&G) -> Vec<T>,
    params: &Params,
) -> ApiResult<Listing> {
    let unset = |key: &str| params.get(key).is_none_or(|v| v.is_empty());
    let paging = match paging(params)? {
        Some(p) if unset("name") && unset("sort") => p,
        _ => return list_fast(groups.iter().flat_map(|(_, g)| make(g)).collect(), params),
    };
    let columns = columns(params);
    let total: usize = groups.iter().map(|(len, _)| len).sum();
    let window = page_window(&paging, total);
    let mut shown = Vec::new();
    let mut start = 0;
    for (len, group) in &groups {
        let range = start..start + len;
        start = range.end;
        if range.end <= window.start || range.start >= window.end {
            continue;
        }
        let mut items = make(group);
        // The group may have changed since it was counted: take what is there.
        let from = window.start.saturating_sub(range.start).min(items.len());
        let to = (window.end - range.start).min(items.len());
        sort_window(&mut items, from..to, |a, b| {
            by_vhost_and_name(a, b).then_with(|| a.tiebreak(b))
        });
        shown.extend(items.drain(from..to));
    }
    write_listing(&shown, Some(&paging), total, total, columns.as_deref())
}

fn columns(params: &Params) -> Option<Vec<String>> {
    params.get("columns").map(|c| {
        c.split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    })
}

pub type Params = HashMap<String, String>;

const MAX_PAGE_SIZE: u64 = 500;
const DEFAULT_PAGE_SIZE: u64 = 100;

struct Paging {
    page: u64,
    page_size: u64,
    filter: Option<NameFilter>,
}

enum NameFilter {
    Substring(String),
    Regex(regex::Regex),
}

impl NameFilter {
    fn matches(&self, name: &str) -> bool {
        match self {
            NameFilter::Substring(s) => name.to_lowercase().contains(s),
            NameFilter::Regex(r) => r.is_match(name),
        }
    }
}

fn flag(params: &Params, key: &str) -> bool {
    params.get(key).is_some_and(|v| v == "true")
}

fn paging(params: &Params) -> ApiResult<Option<Paging>> {
    let number = |key: &str| -> ApiResult<Option<u64>> {
        params
            .get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::bad_request("Pagination parameters are invalid"))
            })
            .transpose()
    };
    let page = number("page")?;
    let page_size = number("page_size")?;
    let Some(page) = page else {
        return Ok(None);
    };
    let size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page == 0 || size == 0 || size > MAX_PAGE_SIZE {
        let shown = page_size.map_or("undefined".to_string(), |s| s.to_string());
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_pagination_parameters",
            format!("Invalid pagination parameters: page number {page}, page size {shown}"),
        ));
    }
    let filter = match params.get("name").filter(|n| !n.is_empty()) {
        None => None,
        Some(name) if flag(params, "use_regex") => {
            let regex = regex::RegexBuilder::new(name)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| ApiError::bad_request(format!("invalid regular expression: {e}")))?;
            Some(NameFilter::Regex(regex))
        }
        Some(name) => Some(NameFilter::Substring(name.to_lowercase())),
    };
    Ok(Some(Paging {
        page,
        page_size: size,
        filter,
    }))
}

/// The listing reply for `items` under `params`: a JSON array, or RabbitMQ's paged
/// object when `page` is given.
pub fn list<T: Listed>(mut items: Vec<T>, params: &Params) -> ApiResult<Value> {
    let paging = paging(params)?;
    let sort = params.get("sort").filter(|s| !s.is_empty());
    let reverse = flag(params, "sort_reverse");
    let columns = params.get("columns").map(|c| {
        c.split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let total = items.len();
    if let Some(filter) = paging.as_ref().and_then(|p| p.filter.as_ref()) {
        items.retain(|i| filter.matches(i.name()));
    }
    let filtered = items.len();
    // Sorting by name needs no JSON; by anything else, every item's JSON.
    let by_name = matches!(sort.map(String::as_str), None | Some("name"));
    let mut values: Vec<Value> = if by_name {
        items.sort_by(|a, b| {
            (a.vhost(), a.name())
                .cmp(&(b.vhost(), b.name()))
                .then(Ordering::Equal)
        });
        if sort.is_some() && reverse {
            items.reverse();
        }
        let window = paging
            .as_ref()
            .map_or(0..filtered, |p| page_window(p, filtered));
        items[window].iter().map(Listed::to_json).collect()
    } else {
        let path: Vec<&str> = sort.map_or(Vec::new(), |s| s.split('.').collect());
        let mut values: Vec<Value> = items.iter().map(Listed::to_json).collect();
        values.sort_by(|a, b| {
            compare(lookup(a, &path), lookup(b, &path))
                .then_with(|| vhost_and_name(a).cmp(&vhost_and_name(b)))
        });
        if reverse {
            values.reverse();
        }
        match &paging {
            Some(p) => values.drain(page_window(p, filtered)).collect(),
            None => values,
        }
    };
    if let Some(columns) = &columns {
        values = values.iter().map(|v| select(v, columns)).collect();
    }
    let Some(p) = paging else {
        return Ok(Value::Array(values));
    };
    let page_count = (filtered as u64).div_ceil(p.page_size);
    if p.page > page_count && filtered > 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "page_out_of_range",
            format!(
                "Page out of range, page: {} page size: {}, len: {filtered}",
                p.page, p.page_size
            ),
        ));
    }
    Ok(serde_json::json!({
        "filtered_count": filtered,
        "item_count": values.len(),
        "items": values,
        "page": p.page,
        "page_count": page_count,
        "page_size": p.page_size,
        "total_count": total,
    }))
}

/// Listing order. Most items of a big listing share their vhost's name, and the
/// bindings of one source its name, as one allocation: equal pointers answer
/// without comparing bytes (a page of 200,000 bindings makes a million of these).
fn by_vhost_and_name<T: Listed>(a: &T, b: &T) -> Ordering {
    same_or_cmp(a.vhost(), b.vhost()).then_with(|| same_or_cmp(a.name(), b.name()))
}

fn same_or_cmp(a: &str, b: &str) -> Ordering {
    if std::ptr::eq(a, b) {
        Ordering::Equal
    } else {
        a.cmp(b)
    }
}

/// Puts the items of `window` in their sorted places (the rest in no useful order):
/// a page of 100 out of 100,000 costs a selection, not a full sort.
fn sort_window<T>(
    items: &mut [T],
    window: std::ops::Range<usize>,
    order: impl Fn(&T, &T) -> Ordering,
) {
    if window.is_empty() {
        return;
    }
    if window.end < items.len() {
        items.select_nth_unstable_by(window.end, &order);
    }
    let head = &mut items[..window.end];
    if window.start > 0 {
        head.select_nth_unstable_by(window.start, &order);
    }
    head[window.start..].sort_unstable_by(&order);
}

fn page_window(p: &Paging, len: usize) -> std::ops::Range<usize> {
    let start = ((p.page - 1).saturating_mul(p.page_size)).min(len as u64) as usize;
    let end = (start as u64 + p.page_size).min(len as u64) as usize;
    start..end
}

fn lookup<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// An item's (vhost, name) from its JSON: the tie-break of sorted listings.
fn vhost_and_name(v: &Value) -> (&str, &str) {
    let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default();
    (text("vhost"), text("name"))
}

/// Missing first, then numbers, then strings, then anything else as text.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::Number(_)), _) => Ordering::Less,
        (_, Some(Value::Number(_))) => Ordering::Greater,
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// Keeps only `columns` (dotted paths) of an object.
fn select(v: &Value, columns: &[String]) -> Value {
    let mut out = Map::new();
    for column in columns {
        let path: Vec<&str> = column.split('.').collect();
        if let Some(found) = lookup(v, &path) {
            insert_path(&mut out, &path, found.clone());
        }
    }
    Value::Object(out)
}

fn insert_path(out: &mut Map<String, Value>, path: &[&str], value: Value) {
    match path {
        [] => {}
        [last] => {
            out.insert(last.to_string(), value);
        }
        [first, rest @ ..] => {
            let entry = out
                .entry(first.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}
