//! Small macros for what every request builder and response shares, so
//! each service module states only what is its own.

/// A response type wrapping its wire message: `header()`, `into_inner()`
/// and conversions both ways with the `pb` message. Fields listed in braces
/// hold messages that are handed out as our own types: they move out of the
/// message into the response (and back into the message on `into_inner`).
macro_rules! wire_response {
    // What both shapes share; `$message` is the field holding the message.
    (@shared $name:ident($raw:ty) $message:tt) => {
        impl $name {
            /// Revision, member and raft term of the answer.
            pub fn header(&self) -> $crate::kv::ResponseHeader {
                $crate::kv::ResponseHeader::of(&self.$message.header)
            }

            /// The wire message.
            pub fn into_inner(self) -> $raw {
                self.into()
            }
        }

        impl $crate::convert::WireResponse for $name {
            type Raw = $raw;
            fn from_raw(raw: $raw) -> Self {
                raw.into()
            }
        }
    };
    ($(#[$doc:meta])* $name:ident($raw:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name(pub(crate) $raw);

        wire_response!(@shared $name($raw) 0);

        impl From<$raw> for $name {
            fn from(raw: $raw) -> Self {
                $name(raw)
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

        wire_response!(@shared $name($raw) raw);

        impl From<$raw> for $name {
            fn from(mut raw: $raw) -> Self {
                $(let $field = $crate::convert::Lift::lift(std::mem::take(&mut raw.$field));)+
                $name { raw, $($field,)+ }
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

/// For an own type that is its wire message behind accessors
/// (`struct Member(RawMember)`): `into_inner()`, `From` both ways, and a
/// `Debug` that prints the message itself.
macro_rules! own_wire_type {
    ($name:ident($raw:ty)) => {
        impl $name {
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

        impl From<$name> for $raw {
            fn from(own: $name) -> Self {
                own.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
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
