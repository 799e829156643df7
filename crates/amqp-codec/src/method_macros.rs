//! The generator behind the method table in `methods.rs`.
//!
//! `define_methods!` takes one entry per method — `(class, method) Name "wire.name"
//! [content] { field: domain, ... }` — and produces the struct, its decoder and encoder,
//! the `Method` enum and its lookups. A field named `reserved` is on the wire but not in
//! the struct: it is skipped when decoding and written as its zero value when encoding.
//!
//! Everything is generated from that one list so that a method's layout is written down
//! exactly once; a mistake in it then shows up in both directions and in the golden-byte
//! tests, instead of hiding in one of a hundred hand-written functions.

/// Reads one field into a local of the same name (or skips a `reserved` one).
macro_rules! read_field {
    ($r:ident, $owner:ident, reserved, $dom:ident) => {
        let _ = <$crate::domain::domain_type!($dom) as $crate::domain::Field>::read($r, $owner)
            .map_err(|e| ("reserved", e))?;
    };
    ($r:ident, $owner:ident, $field:ident, $dom:ident) => {
        let $field =
            <$crate::domain::domain_type!($dom) as $crate::domain::Field>::read($r, $owner)
                .map_err(|e| (stringify!($field), e))?;
    };
}

/// Writes one field of `$m` (or the zero value of a `reserved` one).
macro_rules! write_field {
    ($w:ident, $m:ident, reserved, $dom:ident) => {
        $crate::domain::Field::write(
            &<$crate::domain::domain_type!($dom) as ::std::default::Default>::default(),
            $w,
        );
    };
    ($w:ident, $m:ident, $field:ident, $dom:ident) => {
        $crate::domain::Field::write(&$m.$field, $w);
    };
}

macro_rules! has_content {
    () => {
        false
    };
    (content) => {
        true
    };
}

/// One method: splits its field list into struct fields (everything not `reserved`) and
/// then emits the struct and its codec.
macro_rules! method_def {
    (@split $head:tt $all:tt [$($fields:tt)*] [$($names:ident)*]
        { reserved : $dom:ident, $($rest:tt)* }) => {
        method_def!(@split $head $all [$($fields)*] [$($names)*] { $($rest)* });
    };
    (@split $head:tt $all:tt [$($fields:tt)*] [$($names:ident)*]
        { $field:ident : $dom:ident, $($rest:tt)* }) => {
        method_def!(@split $head $all
            [$($fields)* pub $field: $crate::domain::domain_type!($dom),]
            [$($names)* $field] { $($rest)* });
    };
    (@split $head:tt $all:tt $fields:tt $names:tt {}) => {
        method_def!(@struct $head $fields);
        method_def!(@impl $head $all $names);
    };

    // A method without arguments is a unit struct, so `TxSelect`, `TxSelect {}` and
    // `TxSelect::default()` all work.
    (@struct [$(#[$meta:meta])* $Name:ident $($_rest:tt)*] []) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Default)]
        pub struct $Name;
    };
    (@struct [$(#[$meta:meta])* $Name:ident $($_rest:tt)*] [$($fields:tt)+]) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Default)]
        pub struct $Name {
            $($fields)+
        }
    };

    (@impl [$(#[$meta:meta])* $Name:ident $class:literal $method:literal $wire:literal]
        [$($field:ident : $dom:ident,)*] [$($names:ident)*]) => {
        impl $Name {
            pub const CLASS_ID: u16 = $class;
            pub const METHOD_ID: u16 = $method;
            /// The spec's name, e.g. `"basic.publish"`.
            pub const NAME: &'static str = $wire;

            #[allow(unused_variables)]
            #[inline]
            fn decode_args(
                r: &mut $crate::wire::Reader<'_>,
                owner: &::bytes::Bytes,
            ) -> ::std::result::Result<$Name, (&'static str, $crate::wire::WireError)> {
                $( read_field!(r, owner, $field, $dom); )*
                Ok($Name { $($names),* })
            }

            #[allow(unused_variables)]
            #[inline]
            fn encode_args(&self, w: &mut $crate::wire::Writer<'_>) {
                let m = self;
                $( write_field!(w, m, $field, $dom); )*
            }
        }

        #[cfg(test)]
        impl $crate::testing::Sample for $Name {
            #[allow(unused_variables)]
            fn sample(rng: &mut $crate::testing::Rng) -> $Name {
                $Name { $($names: $crate::testing::Sample::sample(rng)),* }
            }
        }

        impl ::std::convert::From<$Name> for Method {
            fn from(m: $Name) -> Method {
                Method::$Name(m)
            }
        }
    };
}

macro_rules! define_methods {
    ($(
        $(#[doc = $doc:literal])*
        ($class:literal, $method:literal) $Name:ident $wire:literal $($content:ident)? {
            $($field:ident : $dom:ident),* $(,)?
        }
    )*) => {
        $(
            method_def!(@split
                [$(#[doc = $doc])* $Name $class $method $wire]
                [$($field : $dom,)*] [] [] { $($field : $dom,)* });
        )*

        /// Every method of AMQP 0-9-1 (as RabbitMQ speaks it) except `access.*`.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Method {
            $( $(#[doc = $doc])* $Name($Name), )*
        }

        impl Method {
            pub fn class_id(&self) -> u16 {
                match self { $( Method::$Name(_) => $class, )* }
            }

            pub fn method_id(&self) -> u16 {
                match self { $( Method::$Name(_) => $method, )* }
            }

            /// The spec's name, e.g. `"basic.publish"`.
            pub fn name(&self) -> &'static str {
                match self { $( Method::$Name(_) => $wire, )* }
            }

            /// True for the methods followed by a content header and body frames:
            /// basic.publish, basic.return, basic.deliver, basic.get-ok.
            pub fn has_content(&self) -> bool {
                match self { $( Method::$Name(_) => has_content!($($content)?), )* }
            }

            /// Decodes method arguments from the bytes after the class and method ids.
            pub fn decode(
                class_id: u16,
                method_id: u16,
                args: &::bytes::Bytes,
            ) -> ::std::result::Result<Method, $crate::error::FrameError> {
                Method::decode_in(class_id, method_id, args, args)
            }

            /// [`Method::decode`] where `args` is a sub-slice of `owner`, so a frame
            /// decoder need not make a `Bytes` for the arguments alone.
            pub(crate) fn decode_in(
                class_id: u16,
                method_id: u16,
                owner: &::bytes::Bytes,
                args: &[u8],
            ) -> ::std::result::Result<Method, $crate::error::FrameError> {
                let mut r = $crate::wire::Reader::new(args);
                let decoded = match (class_id, method_id) {
                    $(
                        ($class, $method) => $Name::decode_args(&mut r, owner).map(Method::$Name),
                    )*
                    _ => return Err($crate::methods::unknown_method(class_id, method_id)),
                };
                decoded
                    .and_then(|m| r.finish().map(|()| m).map_err(|e| ("", e)))
                    .map_err(|(field, e)| {
                        $crate::methods::bad_arguments(class_id, method_id, field, e)
                    })
            }

            pub(crate) fn encode_args(&self, w: &mut $crate::wire::Writer<'_>) {
                match self { $( Method::$Name(m) => m.encode_args(w), )* }
            }
        }

        /// One method of each kind with pseudo-random arguments, in table order.
        #[cfg(test)]
        pub(crate) fn sample_methods(rng: &mut $crate::testing::Rng) -> Vec<Method> {
            vec![$( Method::$Name($crate::testing::Sample::sample(rng)), )*]
        }

        /// The spec's name of a method id pair, if it is one we know.
        pub fn method_name(class_id: u16, method_id: u16) -> Option<&'static str> {
            match (class_id, method_id) {
                $( ($class, $method) => Some($wire), )*
                _ => None,
            }
        }
    };
}
