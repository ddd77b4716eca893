//! Small macros for what every request builder and response shares, so
//! each service module states only what is its own.

/// A response type wrapping its wire message: `header()`, `into_inner()`
/// and conversions both ways with the `pb` message. Fields listed in braces
/// hold messages that are handed out as our own types: they move out of the
/// message into the response (and back into the message on `into_inner`).
macro_rules! wire_response {
    ($(#[$doc:meta])* $name:ident($raw:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name(pub(crate) $raw);

        impl $name {
            /// Revision, member and raft term of the answer.
            pub fn header(&self) -> $crate::kv::ResponseHeader {
                $crate::kv::ResponseHeader::of(&self.0.header)
            }

            /// The wire message.
            pub fn into_inner(self) -> $raw {
                self.0
            }
        }

        impl From<$raw> for $name {
            fn from(raw: $raw) -> Self {
                $name(raw)
            }
        }

        impl $crate::convert::WireResponse for $name {
            type Raw = $raw;
            fn from_raw(raw: $raw) -> Self {
                raw.into()
            }
        }

        impl From<$name> for $raw {
            fn from(response: $name) -> Self {
                response.0
            }
        }
    };
    ($(#[$doc:meta])* $name:ident($raw:ty) { $($field:ident: $ty:ty),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            /// The message, with the fields below taken out.
            pub(crate) raw: $raw,
            $(pub(crate) $field: $ty,)+
        }

        impl $name {
            /// Revision, member and raft term of the answer.
            pub fn header(&self) -> $crate::kv::ResponseHeader {
                $crate::kv::ResponseHeader::of(&self.raw.header)
            }

            /// The wire message.
            pub fn into_inner(self) -> $raw {
                self.into()
            }
        }

        impl From<$raw> for $name {
            fn from(mut raw: $raw) -> Self {
                $(let $field = $crate::convert::Lift::lift(std::mem::take(&mut raw.$field));)+
                $name { raw, $($field,)+ }
            }
        }

        impl $crate::convert::WireResponse for $name {
            type Raw = $raw;
            fn from_raw(raw: $raw) -> Self {
                raw.into()
            }
        }

        impl From<$name> for $raw {
            fn from(response: $name) -> Self {
                let mut raw = response.raw;
                $(raw.$field = $crate::convert::Lift::lift(response.$field);)+
                raw
            }
        }
    };
}

/// The per-call deadline setter, for builders with an `options` field.
macro_rules! timeout_setter {
    () => {
        /// The deadline of this call, instead of the client's request timeout.
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.timeout = Some(timeout);
            self
        }
    };
}

/// `prefix`, `range_end` and `from_key`, for builders with a `range` field.
macro_rules! key_range_setters {
    () => {
        /// Every key that starts with the key (Go's `WithPrefix`); an empty
        /// key with a prefix means every key.
        pub fn prefix(mut self) -> Self {
            self.range = $crate::kv::RangeEnd::Prefix;
            self
        }

        /// Keys in `[key, end)` (`WithRange`).
        pub fn range_end(mut self, end: impl $crate::IntoBytes) -> Self {
            self.range = $crate::kv::RangeEnd::End(end.into_bytes());
            self
        }

        /// The key and every key after it (`WithFromKey`).
        pub fn from_key(mut self) -> Self {
            self.range = $crate::kv::RangeEnd::FromKey;
            self
        }
    };
}
