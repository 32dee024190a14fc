//! The UDP checksum the link emulator fills in: frames from a veth carry one the sender's
//! stack left to the "hardware" (CHECKSUM_PARTIAL); the relay completes it before passing a
//! frame on, as the NIC would have, so receivers and captures see valid packets.

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Fills in the UDP checksum of an unfragmented IPv4/UDP frame (what the NIC would do for a
/// CHECKSUM_PARTIAL frame). Other frames are left alone.
pub fn fix_udp_checksum(f: &mut [u8]) {
    if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] {
        return;
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if ip[0] >> 4 != 4 || ip[9] != 17 || frag & 0x3fff != 0 || total > ip.len() || ihl < 20 {
        return;
    }
    let udp_len = total - ihl;
    if udp_len < 8 || u16::from_be_bytes([ip[ihl + 4], ip[ihl + 5]]) as usize != udp_len {
        return;
    }
    let mut pseudo = [0u8; 12];
    pseudo[..8].copy_from_slice(&ip[12..20]);
    pseudo[9] = 17;
    pseudo[10..12].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let start = 14 + ihl;
    f[start + 6] = 0;
    f[start + 7] = 0;
    let mut c = fold(sum16(&f[start..start + udp_len], sum16(&pseudo, 0)));
    if c == 0 {
        c = 0xffff;
    }
    f[start + 6..start + 8].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_checksum_matches_a_known_frame() {
        // 10.0.0.1:1234 → 10.0.0.2:319, payload "ab", with the garbage a partial checksum
        // leaves: after the fix, the one's-complement sum over pseudo header and datagram is 0.
        let mut f = vec![0u8; 14 + 20 + 10];
        f[12] = 0x08;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&30u16.to_be_bytes());
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34..36].copy_from_slice(&1234u16.to_be_bytes());
        f[36..38].copy_from_slice(&319u16.to_be_bytes());
        f[38..40].copy_from_slice(&10u16.to_be_bytes());
        f[40] = 0xde; // garbage a partial checksum would leave
        f[42..44].copy_from_slice(b"ab");
        fix_udp_checksum(&mut f);
        let mut pseudo = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 10];
        pseudo.extend_from_slice(&f[34..44]);
        assert_eq!(fold(sum16(&pseudo, 0)), 0, "the checksum must verify");
        assert_ne!(&f[40..42], &[0, 0]);
    }
}
