//! The members file: the keys an export wrote per segment (and arm or cell), in a compact file
//! beside the manifest (`holi.csv` → `holi.members`), whose SHA-256 the manifest records.
//!
//! The members file (format `seglens-members-1`), all integers little-endian:
//!
//! ```text
//! "SEGLENS MEMBERS 1\n"               magic, 18 bytes
//! u8    key kind: b'i' (64-bit signed integers) or b's' (UTF-8 text)
//! u32   number of lists
//! per list:
//!   u16 + bytes   segment name (UTF-8)
//!   u16 + bytes   label: the arm or cell, empty when none
//!   u64           number of keys
//!   keys, strictly ascending (integers by value, text by bytes):
//!     integers: LEB128 varint of the zigzag-encoded difference from the previous key (0 before the first)
//!     text:     varint bytes shared with the previous key, varint length of the rest, the rest
//! ```
//!
//! It is written to a temporary name and renamed into place with the CSV, before the manifest: a
//! manifest (the commit point) names a members file that exists and matches its hash.

use std::path::{Path, PathBuf};

use crate::engine::keys::Keys;

pub const FORMAT: &str = "seglens-members-1";
const MAGIC: &[u8; 18] = b"SEGLENS MEMBERS 1\n";

/// The members file beside an export's CSV.
pub fn members_path(csv: &Path) -> PathBuf {
    csv.with_extension("members")
}

/// One list of a members file: a segment's keys (or one arm's or cell's of it).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberList {
    pub segment: String,
    pub label: String,
    pub keys: Keys,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn short_str(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    let len = u16::try_from(s.len()).map_err(|_| format!("name too long for a members file: {s:.40}…"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Encodes lists of one key kind (every list's keys sorted and unique).
pub fn encode(lists: &[MemberList]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64 + lists.iter().map(|l| l.keys.len() * 3).sum::<usize>());
    out.extend_from_slice(MAGIC);
    let kind = match lists.first().map(|l| &l.keys) {
        Some(Keys::Text(_)) => b's',
        _ => b'i',
    };
    out.push(kind);
    out.extend_from_slice(&(lists.len() as u32).to_le_bytes());
    for l in lists {
        short_str(&mut out, &l.segment)?;
        short_str(&mut out, &l.label)?;
        out.extend_from_slice(&(l.keys.len() as u64).to_le_bytes());
        match (&l.keys, kind) {
            (Keys::Int(v), b'i') => {
                let mut prev = 0i64;
                for &k in v {
                    let d = k.wrapping_sub(prev);
                    varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
                    prev = k;
                }
            }
            (Keys::Text(v), b's') => {
                let mut prev: &[u8] = &[];
                for k in v {
                    let k = k.as_bytes();
                    let shared = prev.iter().zip(k).take_while(|(a, b)| a == b).count();
                    varint(&mut out, shared as u64);
                    varint(&mut out, (k.len() - shared) as u64);
                    out.extend_from_slice(&k[shared..]);
                    prev = k;
                }
            }
            _ => return Err("a members file holds keys of one kind".into()),
        }
    }
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("truncated")?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number runs past 64 bits".into())
    }
    fn short_str(&mut self) -> Result<String, String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().map_err(|_| "truncated")?);
        String::from_utf8(self.take(n.into())?.to_vec()).map_err(|_| "a name is not UTF-8".into())
    }
}

/// Decodes a members file (checked: magic, kind, ascending keys, nothing left over).
pub fn decode(bytes: &[u8]) -> Result<Vec<MemberList>, String> {
    let mut r = Reader { b: bytes, at: 0 };
    if r.take(MAGIC.len()).ok() != Some(&MAGIC[..]) {
        return Err("not a seglens members file".into());
    }
    let kind = r.take(1)?[0];
    let n = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| "truncated")?);
    let mut lists = Vec::new();
    for _ in 0..n {
        let segment = r.short_str()?;
        let label = r.short_str()?;
        let count = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| "truncated")?);
        // Never trust a count for an allocation: each key takes at least one byte.
        let cap = (count as usize).min(bytes.len() - r.at);
        let keys = match kind {
            b'i' => {
                let mut v = Vec::with_capacity(cap);
                let mut prev = 0i64;
                for _ in 0..count {
                    let z = r.varint()?;
                    let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
                    let k = prev.wrapping_add(d);
                    if !v.is_empty() && k <= prev {
                        return Err("keys out of order".into());
                    }
                    v.push(k);
                    prev = k;
                }
                Keys::Int(v)
            }
            b's' => {
                let mut v: Vec<String> = Vec::with_capacity(cap);
                for _ in 0..count {
                    let shared = r.varint()? as usize;
                    let rest = r.varint()? as usize;
                    let prev = v.last().map_or(&b""[..], |s| s.as_bytes());
                    if shared > prev.len() {
                        return Err("a key shares more than the previous key has".into());
                    }
                    let mut k = prev[..shared].to_vec();
                    k.extend_from_slice(r.take(rest)?);
                    let k = String::from_utf8(k).map_err(|_| "a key is not UTF-8")?;
                    if v.last().is_some_and(|p| p.as_bytes() >= k.as_bytes()) {
                        return Err("keys out of order".into());
                    }
                    v.push(k);
                }
                Keys::Text(v)
            }
            _ => return Err("unknown key kind".into()),
        };
        lists.push(MemberList { segment, label, keys });
    }
    if r.at != bytes.len() {
        return Err("bytes after the last list".into());
    }
    Ok(lists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_through_the_format() {
        let ints = vec![
            MemberList { segment: "a".into(), label: String::new(), keys: Keys::Int(vec![-5, 0, 1, 300, i64::MAX]) },
            MemberList { segment: "b".into(), label: "control".into(), keys: Keys::Int(vec![i64::MIN, 7]) },
            MemberList { segment: "c".into(), label: String::new(), keys: Keys::Int(vec![]) },
        ];
        assert_eq!(decode(&encode(&ints).unwrap()).unwrap(), ints);
        let text = vec![MemberList {
            segment: "s".into(),
            label: String::new(),
            keys: Keys::Text(vec!["".into(), "S000001".into(), "S000002".into(), "S00010".into(), "é".into()]),
        }];
        let bytes = encode(&text).unwrap();
        assert_eq!(decode(&bytes).unwrap(), text);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
    }
}
