//! Any headed CSV as a training table: quoted fields, empty and `NA` cells as missing values,
//! string columns as categorical features (category → code), targets for the three generic
//! objectives. Every refusal names the file and line, so a user can fix the data.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The training objectives `train generic` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    Binary,
    Regression,
    Multiclass,
}

impl Task {
    /// LightGBM's objective name.
    pub fn objective(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Regression => "regression",
            Task::Multiclass => "multiclass",
        }
    }
}

/// The cells of a headed CSV, trimmed, with the file line each row starts on.
#[derive(Debug, Clone)]
pub struct Table {
    /// How errors name the file.
    pub source: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub lines: Vec<u64>,
}

/// A missing value: an empty cell, `NA` (R, pandas) or `NaN`.
pub fn is_missing(cell: &str) -> bool {
    cell.is_empty() || cell.eq_ignore_ascii_case("na") || cell.eq_ignore_ascii_case("nan")
}

fn number(cell: &str) -> Option<f64> {
    cell.parse::<f64>().ok()
}

/// A feature column as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedColumn {
    pub name: String,
    pub categorical: bool,
    /// The category of each code when the codes stand for strings; empty otherwise.
    pub categories: Vec<String>,
    /// One value per row; NaN = missing.
    pub values: Vec<f64>,
}

/// The training label of every row, and the class names of a classification target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub labels: Vec<f32>,
    /// Class `i`'s label (binary: `[negative, positive]`); empty for regression.
    pub classes: Vec<String>,
    /// Whether the class names came from the data (strings) rather than codes (0, 1, 2…).
    pub named: bool,
}

impl Table {
    pub fn read(path: &Path) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Self::from_reader(&path.display().to_string(), file)
    }

    pub fn from_reader(source: &str, mut reader: impl std::io::Read) -> Result<Self> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {source}"))?;
        // After CRLF line ends the csv crate positions a record at the `\n` before it (its
        // line count is one short): skip line ends, then count newlines (incrementally, as
        // records come in file order).
        let (mut counted_to, mut newlines) = (0usize, 0u64);
        let mut line_at = |pos: Option<&csv::Position>| {
            pos.map_or(0, |p| {
                let mut at = (p.byte() as usize).min(bytes.len());
                while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
                    at += 1;
                }
                if at < counted_to {
                    (counted_to, newlines) = (0, 0);
                }
                newlines += bytes[counted_to..at]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count() as u64;
                counted_to = at;
                1 + newlines
            })
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes.as_slice());
        let headers: Vec<String> = rdr
            .headers()
            .with_context(|| format!("{source}:1: reading the header"))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut seen = BTreeSet::new();
        for h in &headers {
            if h.is_empty() || !seen.insert(h.as_str()) {
                bail!("{source}:1: column name `{h}` is empty or repeated");
            }
        }
        let (mut rows, mut lines) = (Vec::new(), Vec::new());
        for record in rdr.records() {
            let record = record.map_err(|e| {
                let line = line_at(e.position());
                anyhow!("{source}:{line}: {e}")
            })?;
            let line = line_at(record.position());
            if record.len() != headers.len() {
                bail!(
                    "{source}:{line}: {} fields; the header has {}",
                    record.len(),
                    headers.len()
                );
            }
            rows.push(record.iter().map(str::to_string).collect());
            lines.push(line);
        }
        Ok(Table {
            source: source.to_string(),
            headers,
            rows,
            lines,
        })
    }

    /// The index of column `name`, or an error listing the columns.
    pub fn column(&self, name: &str, what: &str) -> Result<usize> {
        self.headers.iter().position(|h| h == name).ok_or_else(|| {
            anyhow!(
                "{}: {what} `{name}` is not a column (columns: {})",
                self.source,
                self.headers.join(", ")
            )
        })
    }

    fn at(&self, row: usize) -> String {
        format!("{}:{}", self.source, self.lines[row])
    }

    /// Column `col` as a feature: numeric when every present cell is a number, categorical
    /// otherwise (codes = positions in the sorted distinct strings). `force_categorical` makes
    /// a numeric column categorical: non-negative integers stay the codes, anything else
    /// becomes a category string.
    pub fn encode(&self, col: usize, force_categorical: bool) -> EncodedColumn {
        let cells = || self.rows.iter().map(move |r| r[col].as_str());
        let present = || cells().filter(|c| !is_missing(c));
        let numeric = present().all(|c| number(c).is_some());
        let codes = present().all(|c| {
            number(c).is_some_and(|x| x >= 0.0 && x.fract() == 0.0 && x < i32::MAX as f64)
        });
        let name = self.headers[col].clone();
        if numeric && (!force_categorical || codes) {
            return EncodedColumn {
                name,
                categorical: force_categorical,
                categories: Vec::new(),
                values: cells()
                    .map(|c| {
                        if is_missing(c) {
                            f64::NAN
                        } else {
                            number(c).expect("numeric")
                        }
                    })
                    .collect(),
            };
        }
        let categories: Vec<String> = present()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(str::to_string)
            .collect();
        let code: HashMap<&str, f64> = categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as f64))
            .collect();
        let values = cells()
            .map(|c| if is_missing(c) { f64::NAN } else { code[c] })
            .collect();
        EncodedColumn {
            name,
            categorical: true,
            categories,
            values,
        }
    }

    /// The value of one cell for a feature with `categories` (empty: the cell is a number).
    pub fn value(&self, row: usize, col: usize, categories: &[String]) -> Result<f64> {
        let cell = self.rows[row][col].as_str();
        if is_missing(cell) {
            return Ok(f64::NAN);
        }
        if !categories.is_empty() {
            return categories
                .iter()
                .position(|c| c == cell)
                .map(|i| i as f64)
                .ok_or_else(|| {
                    anyhow!(
                        "{}: `{cell}` is not a category of `{}` (categories: {})",
                        self.at(row),
                        self.headers[col],
                        categories.join(", ")
                    )
                });
        }
        number(cell).ok_or_else(|| {
            anyhow!(
                "{}: `{cell}` in column `{}` is not a number",
                self.at(row),
                self.headers[col]
            )
        })
    }

    /// The labels of target column `col` for `task`: regression needs numbers; binary takes
    /// 0/1 or exactly two distinct strings (sorted: the second is the positive class);
    /// multiclass maps its distinct labels (sorted, numerically when all are numbers) to codes.
    pub fn target(&self, col: usize, task: Task) -> Result<Target> {
        let name = &self.headers[col];
        for (i, r) in self.rows.iter().enumerate() {
            if is_missing(&r[col]) {
                bail!("{}: the target `{name}` is missing", self.at(i));
            }
        }
        let cells: Vec<&str> = self.rows.iter().map(|r| r[col].as_str()).collect();
        let numbers: Option<Vec<f64>> = cells.iter().map(|c| number(c)).collect();
        if task == Task::Regression {
            return match numbers {
                Some(v) => Ok(Target {
                    labels: v.iter().map(|&x| x as f32).collect(),
                    classes: Vec::new(),
                    named: false,
                }),
                None => {
                    let i = cells.iter().position(|c| number(c).is_none()).expect("one");
                    bail!(
                        "{}: the regression target `{name}` is `{}`, not a number",
                        self.at(i),
                        cells[i]
                    )
                }
            };
        }
        let mut classes: Vec<&str> = cells
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if let Some(v) = &numbers {
            classes.sort_by(|a, b| number(a).unwrap().total_cmp(&number(b).unwrap()));
            classes.dedup_by(|a, b| number(a) == number(b));
            if task == Task::Binary {
                if let Some(i) = v.iter().position(|&x| x != 0.0 && x != 1.0) {
                    bail!(
                        "{}: the binary target `{name}` is `{}`; use 0/1 or two distinct \
                         strings",
                        self.at(i),
                        cells[i]
                    );
                }
                classes = vec!["0", "1"];
            }
        }
        let present: BTreeSet<usize> = cells.iter().map(|c| class_of(&classes, c)).collect();
        if present.len() < 2 {
            bail!(
                "{}: the target `{name}` has a single class ({}); nothing to learn",
                self.source,
                cells.first().copied().unwrap_or("")
            );
        }
        if task == Task::Binary && classes.len() != 2 {
            bail!(
                "{}: the binary target `{name}` has {} distinct values ({}…); use \
                 --objective multiclass",
                self.source,
                classes.len(),
                classes[..3].join(", ")
            );
        }
        let named = numbers.is_none()
            || classes
                .iter()
                .enumerate()
                .any(|(i, c)| number(c) != Some(i as f64));
        Ok(Target {
            labels: cells.iter().map(|c| class_of(&classes, c) as f32).collect(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            named,
        })
    }
}

/// The position of `cell` among `classes`, comparing as numbers when both are numbers (so
/// `1.0` is class `1`).
fn class_of(classes: &[&str], cell: &str) -> usize {
    classes
        .iter()
        .position(|c| *c == cell || (number(c).is_some() && number(c) == number(cell)))
        .expect("every label is a class")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table> {
        Table::from_reader("t.csv", text.as_bytes())
    }

    #[test]
    fn quoted_fields_and_missing_cells() {
        let t = table("a,b,c\n1,\"x, y\",NA\n2,\"say \"\"hi\"\"\",\n,z,3.5\n").unwrap();
        assert_eq!(t.rows[0][1], "x, y");
        assert_eq!(t.rows[1][1], "say \"hi\"");
        assert_eq!(t.lines, vec![2, 3, 4]);
        let crlf = table("a,b\r\n1,2\r\n\"x\ny\",4\r\n5,6\r\n").unwrap();
        assert_eq!(crlf.lines, vec![2, 3, 5]);
        let a = t.encode(0, false);
        assert!(!a.categorical && a.values[2].is_nan() && a.values[1] == 2.0);
        let c = t.encode(2, false);
        assert!(c.values[0].is_nan() && c.values[1].is_nan() && c.values[2] == 3.5);
    }

    #[test]
    fn string_columns_become_sorted_category_codes() {
        let t = table("shop\nzoo\napple\n\nzoo\nNA\n").unwrap();
        let e = t.encode(0, false);
        assert!(e.categorical);
        assert_eq!(e.categories, vec!["apple", "zoo"]);
        // The blank line is skipped by the reader; NA is missing.
        assert_eq!(e.values.len(), 4);
        assert_eq!(&e.values[..3], &[1.0, 0.0, 1.0]);
        assert!(e.values[3].is_nan());
        assert_eq!(t.value(1, 0, &e.categories).unwrap(), 0.0);
    }

    #[test]
    fn forced_categorical_keeps_integer_codes_and_strings_other_numbers() {
        let t = table("a,b\n3,1.5\n0,2\n7,1.5\n").unwrap();
        let a = t.encode(0, true);
        assert!(a.categorical && a.categories.is_empty());
        assert_eq!(a.values, vec![3.0, 0.0, 7.0]);
        let b = t.encode(1, true);
        assert_eq!(b.categories, vec!["1.5", "2"]);
        assert_eq!(b.values, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn ragged_rows_and_bad_headers_name_file_and_line() {
        let err = table("a,b\n1,2\n3\n").unwrap_err().to_string();
        assert_eq!(err, "t.csv:3: 1 fields; the header has 2");
        let err = table("a,a\n1,2\n").unwrap_err().to_string();
        assert!(err.starts_with("t.csv:1: column name `a`"), "{err}");
        let t = table("a\n1\n").unwrap();
        let err = t.column("b", "--target").unwrap_err().to_string();
        assert_eq!(err, "t.csv: --target `b` is not a column (columns: a)");
    }

    #[test]
    fn targets_per_task() {
        let t = table("y,s,m\n1,yes,b\n0,no,a\n1,yes,c\n0,no,a\n").unwrap();
        let bin = t.target(0, Task::Binary).unwrap();
        assert_eq!(bin.labels, vec![1.0, 0.0, 1.0, 0.0]);
        assert!(!bin.named);
        let s = t.target(1, Task::Binary).unwrap();
        assert_eq!(s.classes, vec!["no", "yes"]);
        assert_eq!(s.labels, vec![1.0, 0.0, 1.0, 0.0]);
        assert!(s.named);
        let m = t.target(2, Task::Multiclass).unwrap();
        assert_eq!(m.classes, vec!["a", "b", "c"]);
        assert_eq!(m.labels, vec![1.0, 0.0, 2.0, 0.0]);
        let r = t.target(0, Task::Regression).unwrap();
        assert_eq!(r.labels, vec![1.0, 0.0, 1.0, 0.0]);
        let err = t.target(1, Task::Regression).unwrap_err().to_string();
        assert_eq!(
            err,
            "t.csv:2: the regression target `s` is `yes`, not a number"
        );
        let err = t.target(2, Task::Binary).unwrap_err().to_string();
        assert!(err.contains("3 distinct values"), "{err}");
    }

    #[test]
    fn numeric_multiclass_labels_sort_as_numbers() {
        let t = table("y\n10\n9\n2\n9.0\n").unwrap();
        let m = t.target(0, Task::Multiclass).unwrap();
        assert_eq!(m.classes, vec!["2", "9", "10"]);
        assert_eq!(m.labels, vec![2.0, 1.0, 0.0, 1.0]);
        assert!(m.named);
        let codes = table("y\n0\n2\n1\n")
            .unwrap()
            .target(0, Task::Multiclass)
            .unwrap();
        assert!(!codes.named);
    }

    #[test]
    fn missing_and_single_class_targets_are_refused() {
        let t = table("y,x\n1,2\n,3\n").unwrap();
        let err = t.target(0, Task::Binary).unwrap_err().to_string();
        assert_eq!(err, "t.csv:3: the target `y` is missing");
        let t = table("y\n1\n1\n").unwrap();
        let err = t.target(0, Task::Binary).unwrap_err().to_string();
        assert!(err.contains("single class"), "{err}");
        let t = table("y\n3\n0\n").unwrap();
        let err = t.target(0, Task::Binary).unwrap_err().to_string();
        assert!(
            err.starts_with("t.csv:2: the binary target `y` is `3`"),
            "{err}"
        );
    }
}
