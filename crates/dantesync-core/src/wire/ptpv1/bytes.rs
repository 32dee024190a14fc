//! Big-endian field access at the absolute offsets of the IEEE 1588-2002 tables.
//!
//! Callers check the buffer length once, against the message's fixed length, before reading or
//! writing any field; these helpers then only index inside that checked range. Keeping offsets
//! absolute (from the start of the message, not of the body) lets every constant be compared
//! line by line with the standard's tables and with a hex dump of a capture.

pub(super) fn u16_at(buf: &[u8], off: usize) -> u16 {
    u16::from_be_bytes(array_at(buf, off))
}

pub(super) fn i16_at(buf: &[u8], off: usize) -> i16 {
    i16::from_be_bytes(array_at(buf, off))
}

pub(super) fn u32_at(buf: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(array_at(buf, off))
}

pub(super) fn i32_at(buf: &[u8], off: usize) -> i32 {
    i32::from_be_bytes(array_at(buf, off))
}

pub(super) fn array_at<const N: usize>(buf: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[off..off + N]);
    out
}

pub(super) fn put(out: &mut [u8], off: usize, bytes: &[u8]) {
    out[off..off + bytes.len()].copy_from_slice(bytes);
}

/// Reads the bytes at `offsets` in order; the inverse of [`put_scattered`].
pub(super) fn gather<const N: usize>(buf: &[u8], offsets: &[usize; N]) -> [u8; N] {
    let mut out = [0u8; N];
    for (slot, &off) in out.iter_mut().zip(offsets) {
        *slot = buf[off];
    }
    out
}

/// Writes `values[i]` at `offsets[i]`; the inverse of [`gather`].
pub(super) fn put_scattered<const N: usize>(
    out: &mut [u8],
    offsets: &[usize; N],
    values: &[u8; N],
) {
    for (&off, &value) in offsets.iter().zip(values) {
        out[off] = value;
    }
}
