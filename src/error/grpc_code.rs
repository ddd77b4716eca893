//! gRPC's status codes, as received from the server.

use std::fmt;

/// Declares `GrpcCode` with its numbers, its conversions (`from_i32`,
/// `as_i32`, `as_str`) and the list of all codes, from one list so they
/// cannot drift apart.
macro_rules! grpc_codes {
    ($( $(#[$attr:meta])* $name:ident = $number:literal, )*) => {
        /// A gRPC status code, as received from the server.
        ///
        /// The numbers are gRPC's own; [`GrpcCode::from_i32`] maps numbers this crate
        /// does not know to [`Unknown`](GrpcCode::Unknown), as gRPC requires.
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum GrpcCode {
            $( $(#[$attr])* $name = $number, )*
        }

        impl GrpcCode {
            /// The code for a number from the wire; numbers outside 0..=16 are
            /// [`Unknown`](GrpcCode::Unknown).
            pub fn from_i32(v: i32) -> GrpcCode {
                match v {
                    $( $number => GrpcCode::$name, )*
                    _ => GrpcCode::Unknown,
                }
            }

            /// The code's number on the wire.
            pub fn as_i32(&self) -> i32 {
                *self as i32
            }

            /// The code's name, as spelled by this enum (`"Unavailable"`).
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( GrpcCode::$name => stringify!($name), )*
                }
            }
        }

        const ALL_CODES: &[GrpcCode] = &[ $( GrpcCode::$name, )* ];
    };
}

grpc_codes! {
    /// Not an error.
    Ok = 0,
    /// The operation was cancelled, usually by the caller.
    Cancelled = 1,
    /// Unknown error; etcd sends this for server errors missing from its table.
    Unknown = 2,
    /// The request is invalid whatever the state of the system.
    InvalidArgument = 3,
    /// The deadline expired before the operation completed.
    DeadlineExceeded = 4,
    /// A requested entity was not found.
    NotFound = 5,
    /// The entity a client tried to create already exists.
    AlreadyExists = 6,
    /// The caller may not do this.
    PermissionDenied = 7,
    /// Some resource (quota, space, message size) is exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state the operation needs.
    FailedPrecondition = 9,
    /// The operation was aborted, usually by a concurrency conflict.
    Aborted = 10,
    /// The operation went past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not enabled.
    Unimplemented = 12,
    /// An invariant of the underlying system is broken.
    Internal = 13,
    /// The service is unavailable, most likely transiently.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request has no valid authentication credentials.
    Unauthenticated = 16,
}

impl GrpcCode {
    /// The code named as Go prints it in `rpc error: code = NAME desc = ...`.
    /// Go spells two names differently from this enum (`OK`, `Canceled`);
    /// this enum's spelling is accepted too.
    pub(super) fn from_go_name(name: &str) -> Option<GrpcCode> {
        match name {
            "OK" => Some(GrpcCode::Ok),
            "Canceled" => Some(GrpcCode::Cancelled),
            _ => ALL_CODES.iter().copied().find(|code| code.as_str() == name),
        }
    }
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_code_round_trip() {
        for n in 0..=16 {
            let code = GrpcCode::from_i32(n);
            assert_eq!(code.as_i32(), n);
            assert_eq!(code.as_str(), format!("{code:?}"));
            assert_eq!(code.to_string(), code.as_str());
            assert_eq!(GrpcCode::from_go_name(code.as_str()), Some(code));
        }
        for n in [-1, 17, 100, i32::MAX, i32::MIN] {
            assert_eq!(GrpcCode::from_i32(n), GrpcCode::Unknown);
        }
        assert_eq!(GrpcCode::from_go_name("Canceled"), Some(GrpcCode::Cancelled));
        assert_eq!(GrpcCode::from_go_name("OK"), Some(GrpcCode::Ok));
        assert_eq!(GrpcCode::from_go_name("Nope"), None);
        assert_eq!(ALL_CODES.len(), 17);
    }
}
