//! [`IntoBytes`]: what keys and values may be given as.

use bytes::Bytes;

/// A key or a value: anything that is bytes, owned or borrowed, of any
/// lifetime. Owned buffers (`String`, `Vec<u8>`, [`Bytes`]) move in
/// without a copy; borrowed ones (`&str`, `&[u8]`, `&String`, ...) are
/// copied once, so a request never borrows from its caller.
///
/// ```no_run
/// # async fn demo(client: etcd_raw::Client, name: &str) -> Result<(), etcd_raw::Error> {
/// let key = format!("config/{name}");
/// client.put(&key, name).await?; // &String and &str
/// client.get(key.as_bytes()).await?; // &[u8]
/// client.get(key).await?; // String, moved
/// # Ok(()) }
/// ```
pub trait IntoBytes {
    /// The bytes.
    fn into_bytes(self) -> Bytes;
}

impl IntoBytes for Bytes {
    fn into_bytes(self) -> Bytes {
        self
    }
}

impl IntoBytes for &Bytes {
    fn into_bytes(self) -> Bytes {
        self.clone()
    }
}

impl IntoBytes for String {
    fn into_bytes(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoBytes for Vec<u8> {
    fn into_bytes(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoBytes for &str {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl IntoBytes for &String {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl IntoBytes for &[u8] {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl IntoBytes for &Vec<u8> {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl<const N: usize> IntoBytes for &[u8; N] {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl<const N: usize> IntoBytes for [u8; N] {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(&self)
    }
}

impl IntoBytes for std::borrow::Cow<'_, str> {
    fn into_bytes(self) -> Bytes {
        match self {
            std::borrow::Cow::Owned(owned) => Bytes::from(owned),
            std::borrow::Cow::Borrowed(borrowed) => Bytes::copy_from_slice(borrowed.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_gives_the_same_bytes() {
        let owned = String::from("k");
        let forms: [Bytes; 10] = [
            "k".into_bytes(),
            IntoBytes::into_bytes(owned.clone()),
            (&owned).into_bytes(),
            b"k".into_bytes(),
            (*b"k").into_bytes(),
            vec![b'k'].into_bytes(),
            (&vec![b'k']).into_bytes(),
            (&b"k"[..]).into_bytes(),
            Bytes::from_static(b"k").into_bytes(),
            std::borrow::Cow::Borrowed("k").into_bytes(),
        ];
        assert!(forms.iter().all(|b| b == "k"));
    }

    #[test]
    fn owned_buffers_move_without_a_copy() {
        let owned = vec![1u8; 64];
        let at = owned.as_ptr();
        assert_eq!(owned.into_bytes().as_ptr(), at);
    }
}
