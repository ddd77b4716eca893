//! HPACK header compression (RFC 7541): a complete decoder and a deliberately minimal encoder.
//!
//! Decoding follows the whole RFC: integers (5.1), raw and Huffman strings (5.2), indexed fields
//! (6.1), the three literal forms (6.2) and dynamic table size updates (6.3), with the dynamic
//! table kept per connection in [`Decoder`]. Every input is untrusted: malformed blocks are
//! reported as [`HpackError`], which the connection turns into a COMPRESSION_ERROR.
//!
//! Decoded names and values are [`Bytes`]: static-table entries point at static memory, raw
//! literals are slices of the header block, and dynamic-table entries are shared, so only Huffman
//! strings are copied.
//!
//! Encoding never uses the dynamic table, only the static one and literals without indexing (or
//! never indexed, for sensitive values), with raw strings. A block encoded this way means the same
//! thing on any connection at any time, so the sender needs no encoder state and never has to
//! follow the peer's SETTINGS_HEADER_TABLE_SIZE. The cost, a few bytes per request, does not
//! matter for gRPC's handful of headers.

mod huffman;
mod table;

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use table::DynamicTable;

/// A decoding failure: always a connection error (COMPRESSION_ERROR) for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HpackError(pub(crate) &'static str);

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HPACK: {}", self.0)
    }
}

impl std::error::Error for HpackError {}

/// The decoding context of one connection: the dynamic table the peer's encoder fills.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// The dynamic table; its current maximum size is what the peer last set.
    table: DynamicTable,
    /// The SETTINGS_HEADER_TABLE_SIZE we advertise: the most the peer may set.
    max_table_size: usize,
}

impl Decoder {
    /// `max_table_size`: the SETTINGS_HEADER_TABLE_SIZE we advertise (4096 default); size updates
    /// above it are errors. The dynamic table starts with that maximum size.
    pub(crate) fn new(max_table_size: usize) -> Decoder {
        Decoder { table: DynamicTable::new(max_table_size), max_table_size }
    }

    /// Decodes one complete header block (HEADERS + CONTINUATION payloads already joined),
    /// appending (name, value) pairs to `fields` in order. Fails when the decoded list's size (sum
    /// of name.len() + value.len() + 32 per field, RFC 9113 SETTINGS_MAX_HEADER_LIST_SIZE rule)
    /// exceeds `max_list_size`.
    ///
    /// On error the decoder may be left inconsistent and `fields` may hold part of the block: the
    /// caller ends the connection.
    pub(crate) fn decode(
        &mut self,
        block: &Bytes,
        max_list_size: usize,
        fields: &mut Vec<(Bytes, Bytes)>,
    ) -> Result<(), HpackError> {
        let mut cursor = Cursor { block, pos: 0 };
        let mut list_size = 0usize;
        let mut any_field = false;
        while let Some(first) = cursor.peek() {
            let (name, value) = if first & 0x80 != 0 {
                // 1xxxxxxx: indexed header field (6.1).
                let index = cursor.integer(7)?;
                self.lookup(index)?
            } else if first & 0x40 != 0 {
                // 01xxxxxx: literal with incremental indexing (6.2.1).
                let (name, value) = self.literal(&mut cursor, 6)?;
                // Copied for the table: a slice of the block would keep the
                // whole read buffer it came in alive for as long as the entry.
                let (name, value) = (Bytes::copy_from_slice(&name), Bytes::copy_from_slice(&value));
                self.table.insert(name.clone(), value.clone());
                (name, value)
            } else if first & 0x20 != 0 {
                // 001xxxxx: dynamic table size update (6.3), allowed only before the first field
                // (4.2); several in a row are fine.
                if any_field {
                    return Err(HpackError("dynamic table size update after a header field"));
                }
                let size = cursor.integer(5)?;
                if size > self.max_table_size {
                    return Err(HpackError("dynamic table size update above SETTINGS_HEADER_TABLE_SIZE"));
                }
                self.table.set_max_size(size);
                continue;
            } else {
                // 0000xxxx without indexing (6.2.2), 0001xxxx never indexed (6.2.3): the same to a
                // decoder that does not re-encode.
                self.literal(&mut cursor, 4)?
            };
            any_field = true;
            list_size = list_size.saturating_add(table::entry_size(&name, &value));
            if list_size > max_list_size {
                return Err(HpackError("header list larger than SETTINGS_MAX_HEADER_LIST_SIZE"));
            }
            fields.push((name, value));
        }
        Ok(())
    }

    /// The entry at HPACK `index`: static 1..=61, then dynamic, newest first.
    fn lookup(&self, index: usize) -> Result<(Bytes, Bytes), HpackError> {
        if index == 0 {
            return Err(HpackError("index 0"));
        }
        if let Some(entry) = table::static_entry(index) {
            return Ok(entry);
        }
        // Refcount clones, not copies.
        self.table
            .get(index - 1 - table::STATIC_TABLE.len())
            .cloned()
            .ok_or(HpackError("index past the end of the dynamic table"))
    }

    /// Reads the rest of a literal field whose name index has a `prefix_bits`-bit prefix: the name
    /// (by index, or a string when the index is 0), then the value string.
    fn literal(&self, cursor: &mut Cursor<'_>, prefix_bits: u8) -> Result<(Bytes, Bytes), HpackError> {
        let name = match cursor.integer(prefix_bits)? {
            0 => cursor.string()?,
            index => self.lookup(index)?.0,
        };
        let value = cursor.string()?;
        Ok((name, value))
    }
}

/// A read position in a header block.
struct Cursor<'a> {
    /// The whole block, so raw strings can be sliced out of it.
    block: &'a Bytes,
    /// Offset of the next unread byte.
    pos: usize,
}

impl Cursor<'_> {
    /// The next byte, not consumed.
    fn peek(&self) -> Option<u8> {
        self.block.get(self.pos).copied()
    }

    /// Consumes the next byte; running out mid-representation is an error.
    fn byte(&mut self) -> Result<u8, HpackError> {
        let byte = self.peek().ok_or(HpackError("header block ends inside a field"))?;
        self.pos += 1;
        Ok(byte)
    }

    /// Reads an integer (5.1) whose first byte holds a `prefix_bits`-bit prefix (1 to 8 bits);
    /// the bits above the prefix are the caller's and ignored here.
    fn integer(&mut self, prefix_bits: u8) -> Result<usize, HpackError> {
        const OVERFLOW: HpackError = HpackError("integer does not fit in usize");
        let mask = ((1u16 << prefix_bits) - 1) as u8;
        let mut value = usize::from(self.byte()? & mask);
        if value < usize::from(mask) {
            return Ok(value);
        }
        // Continuation bytes: 7 bits each, least significant group first.
        let mut shift = 0u32;
        loop {
            let byte = self.byte()?;
            let bits = usize::from(byte & 0x7f);
            // checked_shl fails once shift reaches usize::BITS, which bounds the loop even for a
            // run of zero groups; the round trip catches bits shifted out at the top.
            let add = bits.checked_shl(shift).filter(|add| add >> shift == bits).ok_or(OVERFLOW)?;
            value = value.checked_add(add).ok_or(OVERFLOW)?;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// Reads a string literal (5.2): raw strings are slices of the block, Huffman ones are decoded
    /// into a new buffer.
    fn string(&mut self) -> Result<Bytes, HpackError> {
        let huffman = self.peek().ok_or(HpackError("header block ends inside a field"))? & 0x80 != 0;
        let len = self.integer(7)?;
        let start = self.pos;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= self.block.len())
            .ok_or(HpackError("string literal runs past the end of the header block"))?;
        self.pos = end;
        if huffman {
            let coded = self.block.get(start..end).ok_or(HpackError("string literal out of bounds"))?;
            let mut decoded = Vec::new();
            huffman::decode(coded, &mut decoded)?;
            Ok(Bytes::from(decoded))
        } else {
            Ok(self.block.slice(start..end))
        }
    }
}

/// Appends a field as "literal header field without indexing" (RFC 7541 6.2.2), or "never
/// indexed" (6.2.3) when `sensitive`; the name by static-table index when the static table has
/// that name, else as a literal; strings raw (H=0, no Huffman). Never touches any dynamic table,
/// so a block encoded this way is valid on any connection at any time.
pub(crate) fn encode_literal(out: &mut BytesMut, name: &[u8], value: &[u8], sensitive: bool) {
    // 0000xxxx: without indexing; 0001xxxx: never indexed.
    let pattern = if sensitive { 0x10 } else { 0x00 };
    // Two strings, their length prefixes (at most 10 bytes each on 64-bit) and the first byte.
    out.reserve(name.len() + value.len() + 21);
    match table::static_name_index(name) {
        Some(index) => encode_integer(out, index, 4, pattern),
        None => {
            encode_integer(out, 0, 4, pattern);
            encode_string(out, name);
        }
    }
    encode_string(out, value);
}

/// Appends "indexed header field" (6.1) for static-table entry `index` (e.g. 3 = `:method: POST`,
/// 6 = `:scheme: http`, 7 = `:scheme: https`).
pub(crate) fn encode_indexed(out: &mut BytesMut, index: usize) {
    debug_assert!((1..=table::STATIC_TABLE.len()).contains(&index), "not a static-table index: {index}");
    encode_integer(out, index, 7, 0x80);
}

/// Appends a raw (H=0) string literal (5.2).
fn encode_string(out: &mut BytesMut, s: &[u8]) {
    encode_integer(out, s.len(), 7, 0x00);
    out.put_slice(s);
}

/// Appends `value` as an integer (5.1) with a `prefix_bits`-bit prefix (1 to 8), the first byte's
/// upper bits taken from `pattern`.
fn encode_integer(out: &mut BytesMut, value: usize, prefix_bits: u8, pattern: u8) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        // Fits in the prefix, so below 256.
        out.put_u8(pattern | value as u8);
        return;
    }
    out.put_u8(pattern | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.put_u8(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.put_u8(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A limit no test block reaches.
    const NO_LIMIT: usize = usize::MAX;

    /// Parses RFC-style hex dumps, ignoring whitespace.
    fn hex(s: &str) -> Bytes {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    /// Owned (name, value) pairs for comparisons.
    fn pairs(list: &[(&str, &str)]) -> Vec<(Bytes, Bytes)> {
        list.iter().map(|(n, v)| (Bytes::copy_from_slice(n.as_bytes()), Bytes::copy_from_slice(v.as_bytes()))).collect()
    }

    fn decode(decoder: &mut Decoder, block: &Bytes) -> Result<Vec<(Bytes, Bytes)>, HpackError> {
        let mut fields = Vec::new();
        decoder.decode(block, NO_LIMIT, &mut fields).map(|()| fields)
    }

    fn decode_hex(decoder: &mut Decoder, dump: &str) -> Vec<(Bytes, Bytes)> {
        decode(decoder, &hex(dump)).unwrap()
    }

    fn decode_err(block: &[u8]) -> HpackError {
        decode(&mut Decoder::new(4096), &Bytes::copy_from_slice(block)).unwrap_err()
    }

    /// The dynamic table, newest first, and its size.
    fn table(decoder: &Decoder) -> (Vec<(Bytes, Bytes)>, usize) {
        let entries = (0..decoder.table.len()).map(|i| decoder.table.get(i).unwrap().clone()).collect();
        (entries, decoder.table.size())
    }

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> Bytes {
        let mut out = BytesMut::new();
        f(&mut out);
        out.freeze()
    }

    #[test]
    fn error_display() {
        assert_eq!(HpackError("index 0").to_string(), "HPACK: index 0");
    }

    #[test]
    fn c_1_integers() {
        assert_eq!(&encoded(|out| encode_integer(out, 10, 5, 0))[..], [0x0a]);
        assert_eq!(&encoded(|out| encode_integer(out, 1337, 5, 0))[..], [0x1f, 0x9a, 0x0a]);
        assert_eq!(&encoded(|out| encode_integer(out, 42, 8, 0))[..], [0x2a]);
        for (bytes, prefix, value) in [(&[0xea][..], 5, 10), (&[0xff, 0x9a, 0x0a], 5, 1337), (&[0x2a], 8, 42)] {
            let block = Bytes::copy_from_slice(bytes);
            let mut cursor = Cursor { block: &block, pos: 0 };
            assert_eq!(cursor.integer(prefix), Ok(value));
            assert_eq!(cursor.pos, bytes.len());
        }
    }

    #[test]
    fn c_2_1_literal_with_indexing() {
        let mut decoder = Decoder::new(4096);
        let fields = decode_hex(&mut decoder, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(fields, pairs(&[("custom-key", "custom-header")]));
        assert_eq!(table(&decoder), (pairs(&[("custom-key", "custom-header")]), 55));
    }

    #[test]
    fn c_2_2_literal_without_indexing() {
        let mut decoder = Decoder::new(4096);
        let fields = decode_hex(&mut decoder, "040c 2f73 616d 706c 652f 7061 7468");
        assert_eq!(fields, pairs(&[(":path", "/sample/path")]));
        assert_eq!(table(&decoder), (vec![], 0));
    }

    #[test]
    fn c_2_3_literal_never_indexed() {
        let mut decoder = Decoder::new(4096);
        let fields = decode_hex(&mut decoder, "1008 7061 7373 776f 7264 0673 6563 7265 74");
        assert_eq!(fields, pairs(&[("password", "secret")]));
        assert_eq!(table(&decoder), (vec![], 0));
    }

    #[test]
    fn c_2_4_indexed() {
        let mut decoder = Decoder::new(4096);
        assert_eq!(decode_hex(&mut decoder, "82"), pairs(&[(":method", "GET")]));
        assert_eq!(table(&decoder), (vec![], 0));
    }

    /// C.3 and C.4 decode the same three requests, raw and Huffman-coded.
    fn check_requests(dumps: [&str; 3]) {
        let mut decoder = Decoder::new(4096);
        let first = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")];
        assert_eq!(decode_hex(&mut decoder, dumps[0]), pairs(&first));
        assert_eq!(table(&decoder), (pairs(&[(":authority", "www.example.com")]), 57));

        let mut second = first.to_vec();
        second.push(("cache-control", "no-cache"));
        assert_eq!(decode_hex(&mut decoder, dumps[1]), pairs(&second));
        let expected = [("cache-control", "no-cache"), (":authority", "www.example.com")];
        assert_eq!(table(&decoder), (pairs(&expected), 110));

        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ];
        assert_eq!(decode_hex(&mut decoder, dumps[2]), pairs(&third));
        let expected =
            [("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")];
        assert_eq!(table(&decoder), (pairs(&expected), 164));
    }

    #[test]
    fn c_3_requests_without_huffman() {
        check_requests([
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ]);
    }

    #[test]
    fn c_4_requests_with_huffman() {
        check_requests([
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ]);
    }

    /// C.5 and C.6 decode the same three responses, raw and Huffman-coded, with a 256-byte table.
    fn check_responses(dumps: [&str; 3]) {
        let mut decoder = Decoder::new(256);
        let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
        let location = "https://www.example.com";
        let first = [(":status", "302"), ("cache-control", "private"), ("date", date1), ("location", location)];
        assert_eq!(decode_hex(&mut decoder, dumps[0]), pairs(&first));
        let expected = [("location", location), ("date", date1), ("cache-control", "private"), (":status", "302")];
        assert_eq!(table(&decoder), (pairs(&expected), 222));

        // (":status", "302") is evicted to make room for (":status", "307").
        let second = [(":status", "307"), ("cache-control", "private"), ("date", date1), ("location", location)];
        assert_eq!(decode_hex(&mut decoder, dumps[1]), pairs(&second));
        let expected = [(":status", "307"), ("location", location), ("date", date1), ("cache-control", "private")];
        assert_eq!(table(&decoder), (pairs(&expected), 222));

        let date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
        let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
        let third = [
            (":status", "200"),
            ("cache-control", "private"),
            ("date", date2),
            ("location", location),
            ("content-encoding", "gzip"),
            ("set-cookie", cookie),
        ];
        assert_eq!(decode_hex(&mut decoder, dumps[2]), pairs(&third));
        let expected = [("set-cookie", cookie), ("content-encoding", "gzip"), ("date", date2)];
        assert_eq!(table(&decoder), (pairs(&expected), 215));
    }

    #[test]
    fn c_5_responses_without_huffman() {
        check_responses([
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 \
             3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 \
             7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 \
             6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
        ]);
    }

    #[test]
    fn c_6_responses_with_huffman() {
        check_responses([
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad \
             1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 \
             e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ]);
    }

    #[test]
    fn raw_strings_are_not_copied() {
        let block = hex("000a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        let fields = decode(&mut Decoder::new(4096), &block).unwrap();
        let range = block.as_ptr_range();
        assert!(range.contains(&fields[0].0.as_ptr()));
        assert!(range.contains(&fields[0].1.as_ptr()));
        // What the table keeps is copied, so it does not pin the block.
        let indexed = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        let fields = decode(&mut Decoder::new(4096), &indexed).unwrap();
        let range = indexed.as_ptr_range();
        assert!(!range.contains(&fields[0].0.as_ptr()));
        assert_eq!(fields[0].1, "custom-header");
    }

    #[test]
    fn appends_after_existing_fields() {
        let mut fields = pairs(&[("x", "y")]);
        Decoder::new(4096).decode(&hex("82 84"), NO_LIMIT, &mut fields).unwrap();
        assert_eq!(fields, pairs(&[("x", "y"), (":method", "GET"), (":path", "/")]));
    }

    #[test]
    fn round_trip_request_headers() {
        let long = "v".repeat(200);
        let huge = "w".repeat(70_000);
        let block = encoded(|out| {
            encode_indexed(out, 3);
            encode_indexed(out, 7);
            encode_literal(out, b":path", b"/etcdserverpb.KV/Range", false);
            encode_literal(out, b":authority", b"127.0.0.1:2379", false);
            encode_literal(out, b"content-type", b"application/grpc", false);
            encode_literal(out, b"te", b"trailers", false);
            encode_literal(out, b"authorization", b"secret-token", true);
            encode_literal(out, b"x-long", long.as_bytes(), false);
            encode_literal(out, b"x-huge", huge.as_bytes(), true);
            encode_literal(out, b"", b"", false);
        });
        let mut decoder = Decoder::new(4096);
        let fields = decode(&mut decoder, &block).unwrap();
        let expected = [
            (":method", "POST"),
            (":scheme", "https"),
            (":path", "/etcdserverpb.KV/Range"),
            (":authority", "127.0.0.1:2379"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("authorization", "secret-token"),
            ("x-long", long.as_str()),
            ("x-huge", huge.as_str()),
            ("", ""),
        ];
        assert_eq!(fields, pairs(&expected));
        // The encoder never asks the peer to index anything.
        assert_eq!(table(&decoder), (vec![], 0));
    }

    #[test]
    fn encoded_forms() {
        assert_eq!(&encoded(|out| encode_indexed(out, 6))[..], [0x86]);
        assert_eq!(&encoded(|out| encode_indexed(out, 61))[..], [0xbd]);
        // Static name (":path" is 4), raw value.
        assert_eq!(&encoded(|out| encode_literal(out, b":path", b"/a", false))[..], [0x04, 0x02, b'/', b'a']);
        // Never indexed: same with the 0x10 bit.
        assert_eq!(&encoded(|out| encode_literal(out, b":path", b"/a", true))[..], [0x14, 0x02, b'/', b'a']);
        // A name not in the static table goes as a literal after index 0.
        assert_eq!(&encoded(|out| encode_literal(out, b"te", b"", false))[..], [0x00, 0x02, b't', b'e', 0x00]);
        // Index 61 overflows the 4-bit prefix: 15, then 46.
        assert_eq!(&encoded(|out| encode_literal(out, b"www-authenticate", b"", true))[..], [0x1f, 0x2e, 0x00]);
        // A 200-byte value: length 127 + 73.
        let value = [b'v'; 200];
        let block = encoded(|out| encode_literal(out, b"te", &value, false));
        assert_eq!(&block[..6], [0x00, 0x02, b't', b'e', 0x7f, 73]);
        assert_eq!(block.len(), 6 + 200);
    }

    #[test]
    fn size_updates_at_block_start() {
        let mut decoder = Decoder::new(4096);
        decode_hex(&mut decoder, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(decoder.table.len(), 1);
        // Two updates (0 then 4096, the most allowed: 31 + 4065) then a field.
        let fields = decode_hex(&mut decoder, "20 3fe1 1f 82");
        assert_eq!(fields, pairs(&[(":method", "GET")]));
        assert_eq!((decoder.table.len(), decoder.table.max_size()), (0, 4096));
        // An update alone is a valid block.
        assert_eq!(decode_hex(&mut decoder, "3f11"), vec![]);
        assert_eq!(decoder.table.max_size(), 48);
    }

    #[test]
    fn rejects_size_update_above_max() {
        // 4097 = 31 + 4066 = 31 + 0x62 + (0x1f << 7).
        let err = HpackError("dynamic table size update above SETTINGS_HEADER_TABLE_SIZE");
        assert_eq!(decode_err(&[0x3f, 0xe2, 0x1f]), err);
        let mut decoder = Decoder::new(100);
        assert_eq!(decode(&mut decoder, &hex("3f46")).unwrap_err(), err);
        assert_eq!(decode(&mut decoder, &hex("3f45")), Ok(vec![]));
    }

    #[test]
    fn rejects_size_update_after_field() {
        assert_eq!(decode_err(&[0x82, 0x20]), HpackError("dynamic table size update after a header field"));
    }

    #[test]
    fn rejects_index_zero() {
        assert_eq!(decode_err(&[0x80]), HpackError("index 0"));
    }

    #[test]
    fn rejects_index_out_of_range() {
        let err = HpackError("index past the end of the dynamic table");
        // 62 with an empty dynamic table, as an indexed field and as a literal's name.
        assert_eq!(decode_err(&[0xbe]), err);
        assert_eq!(decode_err(&[0x7e, 0x00]), err);
        // With one dynamic entry, 62 works and 63 does not.
        let mut decoder = Decoder::new(4096);
        decode_hex(&mut decoder, "4001 6101 62");
        assert_eq!(decode_hex(&mut decoder, "be"), pairs(&[("a", "b")]));
        assert_eq!(decode(&mut decoder, &hex("bf")).unwrap_err(), err);
        // Huge indexes are merely out of range.
        assert_eq!(decode_err(&[0xff, 0xff, 0xff, 0xff, 0x0f]), err);
    }

    #[test]
    fn rejects_truncated_integer() {
        let err = HpackError("header block ends inside a field");
        assert_eq!(decode_err(&[0xff]), err);
        assert_eq!(decode_err(&[0xff, 0x80, 0x80]), err);
        // Truncated string length and a missing value.
        assert_eq!(decode_err(&[0x04, 0x7f]), err);
        assert_eq!(decode_err(&[0x04]), err);
        assert_eq!(decode_err(&[0x00, 0x01, b'a']), err);
    }

    #[test]
    fn rejects_integer_overflow() {
        let err = HpackError("integer does not fit in usize");
        let mut block = vec![0xff];
        block.extend([0xff; 9]);
        block.push(0x7f);
        assert_eq!(decode_err(&block), err);
        // Zero groups forever: stops once the shift passes the word size.
        let mut block = vec![0xff];
        block.extend([0x80; 64]);
        assert_eq!(decode_err(&block), err);
        // Each group fits its shift, but the prefix plus the groups sum past usize::MAX.
        let mut cursor_block = vec![0x7f];
        cursor_block.extend([0xff; 9]);
        cursor_block.push(0x01);
        let block = Bytes::from(cursor_block);
        assert_eq!(Cursor { block: &block, pos: 0 }.integer(7), Err(err));
    }

    #[test]
    fn rejects_string_past_the_end() {
        let err = HpackError("string literal runs past the end of the header block");
        assert_eq!(decode_err(&[0x04, 0x05, b'/', b'a']), err);
        // A length near usize::MAX must not allocate or overflow.
        assert_eq!(decode_err(&[0x04, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), err);
        assert_eq!(decode_err(&[0x04, 0xff, 0xff, 0xff, 0xff, 0x0f]), err);
    }

    #[test]
    fn rejects_bad_huffman() {
        // ":path" with a one-byte Huffman value 0xff: eight bits of padding.
        assert_eq!(decode_err(&[0x04, 0x81, 0xff]), HpackError("invalid Huffman padding"));
        // 'a' (00011) padded with zeros.
        assert_eq!(decode_err(&[0x04, 0x81, 0x18]), HpackError("invalid Huffman padding"));
        // EOS.
        assert_eq!(
            decode_err(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]),
            HpackError("EOS symbol inside a Huffman-coded string")
        );
        // The good case: 'a' padded with ones.
        let fields = decode(&mut Decoder::new(4096), &Bytes::from_static(&[0x04, 0x81, 0x1f])).unwrap();
        assert_eq!(fields, pairs(&[(":path", "a")]));
    }

    #[test]
    fn list_size_limit() {
        // ":method: GET" is 7 + 3 + 32 = 42, ":path: /" is 5 + 1 + 32 = 38.
        let block = hex("82 84");
        let mut fields = Vec::new();
        assert_eq!(Decoder::new(4096).decode(&block, 80, &mut fields), Ok(()));
        assert_eq!(fields.len(), 2);
        let err = Decoder::new(4096).decode(&block, 79, &mut Vec::new()).unwrap_err();
        assert_eq!(err, HpackError("header list larger than SETTINGS_MAX_HEADER_LIST_SIZE"));
        // Size updates count for nothing.
        assert_eq!(Decoder::new(4096).decode(&hex("20 3fe1 1f"), 0, &mut Vec::new()), Ok(()));
    }

    /// xorshift64: deterministic pseudo-random numbers without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Checks what must hold after any decode, good or bad input.
    fn check_invariants(decoder: &Decoder, result: &Result<(), HpackError>, fields: &[(Bytes, Bytes)], max: usize) {
        assert!(decoder.table.size() <= decoder.table.max_size());
        assert!(decoder.table.max_size() <= decoder.max_table_size);
        if result.is_ok() {
            let size: usize = fields.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
            assert!(size <= max);
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut ok, mut failed) = (0, 0);
        // The tables carry over from block to block, as on a connection (errors included: the
        // invariants must hold even where the caller would give up).
        let mut decoders = [Decoder::new(4096), Decoder::new(256)];
        for round in 0..5000 {
            let decoder = &mut decoders[round % 2];
            let len = rng.below(64);
            let block: Bytes = (0..len).map(|_| rng.next() as u8).collect();
            let max = rng.below(4096);
            let mut fields = Vec::new();
            let result = decoder.decode(&block, max, &mut fields);
            check_invariants(decoder, &result, &fields, max);
            if result.is_ok() {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        // Both outcomes happen, so the loop exercised real decoding, not just the first check.
        assert!(ok > 0 && failed > 0, "ok {ok}, failed {failed}");
    }

    #[test]
    fn mutated_blocks_never_panic() {
        let seeds = [
            hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
            hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d"),
            hex("88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a"),
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut decoder = Decoder::new(256);
        let (mut ok, mut failed) = (0, 0);
        for _ in 0..5000 {
            let mut block = seeds[rng.below(seeds.len())].to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(block.len());
                block[at] = rng.next() as u8;
            }
            block.truncate(1 + rng.below(block.len()));
            let mut fields = Vec::new();
            let result = decoder.decode(&Bytes::from(block), 4096, &mut fields);
            check_invariants(&decoder, &result, &fields, 4096);
            if result.is_ok() {
                ok += 1;
            } else {
                // The caller would drop the connection: start over.
                decoder = Decoder::new(256);
                failed += 1;
            }
        }
        assert!(ok > 0 && failed > 0, "ok {ok}, failed {failed}");
    }
}
