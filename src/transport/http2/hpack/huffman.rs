//! Huffman decoding of HPACK string literals (RFC 7541, 5.2; the code is Appendix B).
//!
//! The code table is turned, at compile time, into a binary tree and then into a state machine
//! that consumes four bits at a time: a state is an internal node of the tree (the bits read since
//! the last complete symbol), and each (state, nibble) pair says which node comes next and which
//! symbol, if any, was completed on the way. The shortest code is 5 bits long, so a nibble
//! completes at most one symbol. Decoding is then two table lookups per input byte.
//!
//! The string must end on a symbol boundary followed by at most 7 bits of padding, all ones (the
//! start of EOS); a whole EOS symbol inside the string is an error.

use super::HpackError;

/// Code (aligned to the least significant bit) and its length in bits, for every byte value and
/// for EOS (symbol 256), as listed in RFC 7541 Appendix B.
#[rustfmt::skip]
pub(super) const CODES: [(u32, u8); 257] = [
    // 0..=15
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28),
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
    // 16..=31
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28),
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
    // 32..=47: ' ' ! " # $ % & ' ( ) * + , - . /
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11),
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    // 48..=63: 0-9 : ; < = > ?
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    // 64..=79: @ A-O
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7),
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    // 80..=95: P-Z [ \ ] ^ _
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13),
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    // 96..=111: ` a-o
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5),
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    // 112..=127: p-z { | } ~ DEL
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5),
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15),
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    // 128..=143
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    // 144..=159
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23),
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    // 160..=175
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24),
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    // 176..=191
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    // 192..=207
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19),
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    // 208..=223
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27),
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26),
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    // 224..=239
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25),
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    // 240..=255
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26),
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    // 256: EOS
    (0x3fffffff, 30),
];

/// The end-of-string symbol: only its prefix may appear, as padding.
const EOS: u16 = 256;

/// Internal nodes of the code tree: a complete binary tree with 257 leaves has 256 of them, so a
/// node index (a machine state) fits in a `u8`.
const NODES: usize = 256;

/// Set on a tree child that is a symbol (a leaf) rather than the index of an internal node.
const LEAF: u16 = 0x8000;

/// Padding is at most 7 bits (RFC 7541, 5.2).
const MAX_PADDING: usize = 7;

/// The code tree: for each internal node, its children for bit 0 and bit 1.
const TREE: [[u16; 2]; NODES] = build_tree();

/// The nibble state machine: `MACHINE[state][nibble]`.
static MACHINE: [[Step; 16]; NODES] = build_machine();

/// States where the string may end: the root (nothing pending) and the nodes reached by 1 to 7
/// one bits from the root (valid padding).
static ACCEPTING: [bool; NODES] = build_accepting();

/// One transition of the state machine.
#[derive(Clone, Copy)]
struct Step {
    /// The state after the nibble.
    next: u8,
    /// The symbol completed within the nibble, when `flags` has `EMIT`.
    sym: u8,
    /// `EMIT` and/or `FAIL`.
    flags: u8,
}

/// The nibble completed a symbol: `Step::sym`.
const EMIT: u8 = 1;
/// The nibble completed EOS: the string is invalid.
const FAIL: u8 = 2;

/// Builds the code tree from `CODES`. Runs at compile time only: a table that is not a complete
/// prefix code stops the build.
const fn build_tree() -> [[u16; 2]; NODES] {
    // 0 marks an empty slot: the root (node 0) is nobody's child.
    let mut tree = [[0u16; 2]; NODES];
    let mut next_node = 1;
    let mut sym = 0;
    while sym < CODES.len() {
        let (code, len) = CODES[sym];
        assert!(len >= 5 && len <= 30 && (code >> len) == 0, "bad code length");
        let mut node = 0;
        let mut depth = len;
        // Walk (creating) the internal nodes for all bits but the last, most significant first.
        while depth > 1 {
            depth -= 1;
            let bit = ((code >> depth) & 1) as usize;
            let child = tree[node][bit];
            if child == 0 {
                tree[node][bit] = next_node as u16;
                node = next_node;
                next_node += 1;
            } else {
                assert!(child & LEAF == 0, "a code is a prefix of another");
                node = child as usize;
            }
        }
        let bit = (code & 1) as usize;
        assert!(tree[node][bit] == 0, "a code is a prefix of another");
        tree[node][bit] = LEAF | sym as u16;
        sym += 1;
    }
    assert!(next_node == NODES, "the code is not complete");
    tree
}

/// Builds the nibble machine from `TREE` (compile time only).
const fn build_machine() -> [[Step; 16]; NODES] {
    let mut machine = [[Step { next: 0, sym: 0, flags: 0 }; 16]; NODES];
    let mut state = 0;
    while state < NODES {
        let mut nibble = 0;
        while nibble < 16 {
            let mut step = Step { next: 0, sym: 0, flags: 0 };
            let mut node = state;
            let mut shift = 4;
            while shift > 0 {
                shift -= 1;
                let child = TREE[node][(nibble >> shift) & 1];
                if child & LEAF == 0 {
                    node = child as usize;
                    continue;
                }
                let sym = child & !LEAF;
                if sym == EOS {
                    step.flags |= FAIL;
                    break;
                }
                assert!(step.flags & EMIT == 0, "two symbols in one nibble");
                step.flags |= EMIT;
                step.sym = sym as u8;
                node = 0;
            }
            step.next = node as u8;
            machine[state][nibble] = step;
            nibble += 1;
        }
        state += 1;
    }
    machine
}

/// Marks the states where a string may end (compile time only).
const fn build_accepting() -> [bool; NODES] {
    let mut accepting = [false; NODES];
    let mut node = 0;
    let mut depth = 0;
    loop {
        accepting[node] = true;
        if depth == MAX_PADDING {
            return accepting;
        }
        let child = TREE[node][1];
        assert!(child & LEAF == 0, "padding reaches a symbol");
        node = child as usize;
        depth += 1;
    }
}

/// Decodes the Huffman-coded `src`, appending the bytes to `dst`.
pub(super) fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), HpackError> {
    // At most 8/5 output bytes per input byte: the shortest code is 5 bits.
    dst.reserve(src.len().saturating_mul(8) / 5);
    let mut state = 0usize;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = MACHINE[state][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(HpackError("EOS symbol inside a Huffman-coded string"));
            }
            if step.flags & EMIT != 0 {
                dst.push(step.sym);
            }
            state = usize::from(step.next);
        }
    }
    if ACCEPTING[state] {
        Ok(())
    } else {
        Err(HpackError("invalid Huffman padding"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test-only encoder: packs the codes most significant bit first, pads with ones.
    fn encode(src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc: u64 = 0;
        let mut bits: u32 = 0;
        for &byte in src {
            let (code, len) = CODES[usize::from(byte)];
            acc = (acc << len) | u64::from(code);
            bits += u32::from(len);
            while bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        if bits > 0 {
            out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
        }
        out
    }

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    fn decoded(src: &[u8]) -> Result<Vec<u8>, HpackError> {
        let mut out = Vec::new();
        decode(src, &mut out).map(|()| out)
    }

    #[test]
    fn code_is_canonical_and_complete() {
        // Kraft sum of exactly 1: the code wastes no bit pattern.
        let kraft: u64 = CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
        assert_eq!(kraft, 1 << 30);
        // Canonical: sorted by (length, symbol), each code is the previous plus one, shifted left
        // by the growth in length. This checks every entry of the transcription.
        let mut order: Vec<usize> = (0..CODES.len()).collect();
        order.sort_by_key(|&sym| (CODES[sym].1, sym));
        let (mut expected, mut prev_len) = (0u32, CODES[order[0]].1);
        for &sym in &order {
            let (code, len) = CODES[sym];
            expected <<= len - prev_len;
            assert_eq!(code, expected, "symbol {sym}");
            expected += 1;
            prev_len = len;
        }
        assert_eq!(CODES[256], (0x3fff_ffff, 30));
    }

    #[test]
    fn rfc_examples() {
        let cases = [
            ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"),
            ("a8eb 1064 9cbf", "no-cache"),
            ("25a8 49e9 5ba9 7d7f", "custom-key"),
            ("25a8 49e9 5bb8 e8b4 bf", "custom-value"),
            ("6402", "302"),
            ("aec3 771a 4b", "private"),
            ("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com"),
            ("640e ff", "307"),
            ("9bd9 ab", "gzip"),
            (
                "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 \
                 b106 3d50 07",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ];
        for (coded, plain) in cases {
            assert_eq!(decoded(&hex(coded)).unwrap(), plain.as_bytes(), "{plain}");
            assert_eq!(encode(plain.as_bytes()), hex(coded), "{plain}");
        }
    }

    #[test]
    fn round_trips_every_byte_value() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decoded(&encode(&all)).unwrap(), all);
        for byte in 0..=255u8 {
            let plain = [byte, byte.wrapping_mul(7), b'a'];
            assert_eq!(decoded(&encode(&plain)).unwrap(), plain);
        }
        assert_eq!(decoded(&[]).unwrap(), b"");
    }

    #[test]
    fn rejects_padding_longer_than_seven_bits() {
        // 'a' is 00011: then 3 padding bits fill the byte; a further 0xff makes 11 bits.
        assert_eq!(decoded(&[0x1f]).unwrap(), b"a");
        assert_eq!(decoded(&[0x1f, 0xff]), Err(HpackError("invalid Huffman padding")));
        // A whole byte of ones and nothing else: 8 bits of padding.
        assert_eq!(decoded(&[0xff]), Err(HpackError("invalid Huffman padding")));
    }

    #[test]
    fn rejects_padding_not_all_ones() {
        // 'a' then 000: the three bits are not a prefix of EOS.
        assert_eq!(decoded(&[0x18]), Err(HpackError("invalid Huffman padding")));
        // 'a' then 011.
        assert_eq!(decoded(&[0x1b]), Err(HpackError("invalid Huffman padding")));
    }

    #[test]
    fn rejects_eos() {
        // 30 ones are EOS, whatever follows.
        let err = Err(HpackError("EOS symbol inside a Huffman-coded string"));
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), err);
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xfc]), err);
        // 'a' (00011) then EOS: 5 + 30 bits, padded with ones to 40 bits.
        let mut bits: u64 = (0b00011 << 35) | (0x3fff_ffff << 5) | 0b11111;
        let mut bytes = Vec::new();
        for _ in 0..5 {
            bytes.push((bits >> 32) as u8);
            bits <<= 8;
        }
        assert_eq!(decoded(&bytes), err);
    }
}
