//! "Did you mean ...?" for misspelt keys and values.

/// The candidate closest to `word`, if it is close enough to be a plausible typo: at most one
/// edit for short words, up to three for long ones. A transposition counts as one edit, since
/// swapped letters are the commonest typing slip.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 4).clamp(1, 3);
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&lower, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance with adjacent transpositions (optimal string alignment).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("ntp_sever", "ntp_server"), 1);
        assert_eq!(distance("intreface", "interface"), 1);
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kind", "mind"), 1);
    }

    #[test]
    fn suggests_only_plausible_typos() {
        let keys = ["ntp_server", "ntp_server_mode", "ntp", "interface"];
        assert_eq!(closest("ntp_sever", keys), Some("ntp_server"));
        assert_eq!(closest("NTP_Server", keys), Some("ntp_server"));
        assert_eq!(closest("ntp_server_mod", keys), Some("ntp_server_mode"));
        assert_eq!(closest("intreface", keys), Some("interface"));
        assert_eq!(closest("nt", keys), Some("ntp"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(closest("banana_split", keys), None);
    }
}
