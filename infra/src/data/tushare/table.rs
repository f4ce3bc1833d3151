//! Reading one TuShare export: a CSV whose columns are found by name, rows read as numbers,
//! dates and codes the way pandas writes them.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

/// One CSV, columns found by name.
pub(super) struct Table {
    file: String,
    width: usize,
    pub(super) columns: HashMap<String, usize>,
    reader: csv::Reader<File>,
}

impl Table {
    pub(super) fn open(path: &Path, file: &str) -> Result<Table> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let headers = reader
            .headers()
            .map_err(|e| utf8_hint(e, file))
            .with_context(|| format!("reading the header of {}", path.display()))?;
        // csv strips a UTF-8 BOM itself; trim guards against `ts_code ` style headers.
        let columns: HashMap<String, usize> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_string(), i))
            .collect();
        if !columns.contains_key("ts_code") {
            bail!(
                "{} has no ts_code column (header: {}); is it a TuShare export?",
                path.display(),
                headers.iter().collect::<Vec<_>>().join(",")
            );
        }
        Ok(Table {
            file: file.to_string(),
            width: headers.len(),
            columns,
            reader,
        })
    }

    /// Calls `f(row)` for every data row (blank rows skipped). A row whose field count
    /// differs from the header's (an unquoted comma, a truncated line) and a row `f` refuses
    /// are rejected: the answer is the rows read and the rejections, named by file and line.
    pub(super) fn for_each(
        &mut self,
        mut f: impl FnMut(&Row) -> Result<(), String>,
    ) -> Result<(u64, Vec<String>)> {
        let mut record = csv::StringRecord::new();
        let (mut rows, mut rejected) = (0, Vec::new());
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(utf8_hint(e, &self.file)),
            }
            if record.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            rows += 1;
            let line = record.position().map_or(0, |p| p.line());
            let outcome = if record.len() != self.width {
                Err(format!(
                    "{} fields where the header has {} (an unquoted comma in a number?)",
                    record.len(),
                    self.width
                ))
            } else {
                f(&Row {
                    line,
                    record: &record,
                    columns: &self.columns,
                })
            };
            if let Err(reason) = outcome {
                rejected.push(format!("{} line {line}: {reason}", self.file));
            }
        }
        Ok((rows, rejected))
    }
}

/// Non-UTF-8 files (GBK from Excel) get a hint on how to re-export them.
pub(super) fn utf8_hint(e: csv::Error, file: &str) -> anyhow::Error {
    if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
        anyhow::anyhow!(
            "{file}: {e}; the file is not UTF-8 (GBK?): re-export it with \
             to_csv(..., encoding=\"utf-8-sig\")"
        )
    } else {
        anyhow::anyhow!("{file}: {e}")
    }
}

pub(super) struct Row<'a> {
    pub(super) line: u64,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
}

impl Row<'_> {
    /// The trimmed cell, `None` when the column is absent or the cell empty / NaN.
    pub(super) fn text(&self, column: &str) -> Option<&str> {
        let cell = self.record.get(*self.columns.get(column)?)?.trim();
        match cell {
            "" | "nan" | "NaN" | "NAN" | "None" | "null" | "NULL" | "NA" | "-" => None,
            c => Some(c),
        }
    }

    pub(super) fn number(&self, column: &str) -> Result<Option<f64>, String> {
        let Some(cell) = self.text(column) else {
            return Ok(None);
        };
        match cell.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(format!("{column} {cell:?} is not a number")),
        }
    }

    pub(super) fn ts_code(&self) -> Result<String, String> {
        let code = self.text("ts_code").ok_or("ts_code is empty")?;
        if is_ts_code(code) {
            Ok(code.to_ascii_uppercase())
        } else {
            Err(format!(
                "ts_code {code:?} is not a TuShare code like 600519.SH"
            ))
        }
    }

    pub(super) fn date(&self, column: &str) -> Result<Option<String>, String> {
        match self.text(column) {
            None => Ok(None),
            Some(d) => normalize_date(d)
                .map(Some)
                .ok_or_else(|| format!("{column} {d:?} is not a date like 20231231")),
        }
    }
}

/// `600519.SH`, `000858.SZ`, `830799.BJ`.
pub(super) fn is_ts_code(code: &str) -> bool {
    let Some((digits, exchange)) = code.split_once('.') else {
        return false;
    };
    digits.len() == 6
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["SH", "SZ", "BJ"].contains(&exchange.to_ascii_uppercase().as_str())
}

/// `20231231`, `2023-12-31`, `2023/12/31` and pandas' float rendering `20231231.0` to
/// `20231231`; `None` when it is not a plausible calendar date.
pub fn normalize_date(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_suffix(".0").unwrap_or(s);
    let d: String = s.chars().filter(|c| !matches!(c, '-' | '/')).collect();
    if d.len() != 8 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: u32 = d[4..6].parse().ok()?;
    let day: u32 = d[6..8].parse().ok()?;
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(d)
}

/// Numeric flag columns (`report_type`, `update_flag`) that pandas may render as `1.0`.
pub(super) fn flag(row: &Row, column: &str) -> Result<Option<i64>, String> {
    match row.number(column)? {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 => Ok(Some(v as i64)),
        Some(v) => Err(format!("{column} {v} is not a whole number")),
    }
}
