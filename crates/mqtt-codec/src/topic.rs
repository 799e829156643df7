//! Topic names and filters (spec 4.7): what a PUBLISH may name and what a SUBSCRIBE
//! may ask for. Pure checks; the adapter maps valid ones to routing keys.

/// A topic name a PUBLISH may carry: non-empty, no wildcards.
pub fn valid_name(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#'])
}

/// A topic filter: non-empty; `+` fills a whole level; `#` fills a whole level and
/// comes last.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return false;
        }
        if level.contains('+') && level != "+" {
            return false;
        }
    }
    true
}

/// Whether `topic` matches `filter` (spec 4.7): `+` one level, `#` any number of
/// levels (also none, after a `/`); a topic starting with `$` is not matched by a
/// wildcard in the first level.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Splits `$share/<group>/<filter>` into the group and the filter.
pub fn shared(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix("$share/")?;
    let (group, filter) = rest.split_once('/')?;
    (!group.is_empty() && !group.contains(['+', '#'])).then_some((group, filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_follow_the_wildcard_rules() {
        for ok in [
            "a", "a/b", "+", "#", "a/+/b", "a/#", "+/+", "/", "a//b", "$SYS/#",
        ] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a+", "a/b+/c", "##", "#/a"] {
            assert!(!valid_filter(bad), "{bad}");
        }
        assert!(valid_name("a/b"));
        assert!(!valid_name("a/+"));
        assert!(!valid_name("#"));
        assert!(!valid_name(""));
        assert_eq!(shared("$share/g/a/b"), Some(("g", "a/b")));
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "a/b"));
        assert!(matches("+/+", "/x"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(!matches("a/b", "a"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert_eq!(shared("$share//a"), None);
        assert_eq!(shared("a/b"), None);
    }
}
