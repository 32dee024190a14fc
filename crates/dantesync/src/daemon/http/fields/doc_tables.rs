//! Reading the markdown tables of `docs/` in tests, to check them against the code. Also
//! included by the tests of `dantesync status` (`src/status/print.rs`).

use std::collections::BTreeMap;

/// Cells of a markdown table row, trimmed; `\|` inside a cell does not split it.
pub fn cells(row: &str) -> Vec<String> {
    let (mut cells, mut cell, mut escaped) = (Vec::new(), String::new(), false);
    for c in row.trim().trim_start_matches('|').chars() {
        match c {
            '|' if !escaped => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
        escaped = c == '\\';
    }
    cells
}

/// The texts between backticks.
pub fn quoted(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// A table whose rows are keyed by a number in their first cell (an offset, a bit).
#[derive(Debug)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: BTreeMap<u16, Vec<String>>,
}

impl Table {
    /// The first table after the line that starts with `marker`.
    pub fn after(doc: &str, marker: &str) -> Table {
        let start = doc
            .find(&format!("\n{marker}"))
            .unwrap_or_else(|| panic!("no {marker:?}"));
        let mut lines = doc[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'));
        let header = cells(lines.next().unwrap_or_default());
        let rows = lines
            .map(cells)
            .filter_map(|c| Some((c[0].parse().ok()?, c)))
            .collect::<BTreeMap<u16, Vec<String>>>();
        for (key, row) in &rows {
            assert_eq!(
                row.len(),
                header.len(),
                "row {key} after {marker:?}: {row:?}"
            );
        }
        Table { header, rows }
    }

    /// The index of the column headed `name`.
    pub fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.header))
    }
}
