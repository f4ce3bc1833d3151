//! `warmstart score <model.txt | bundle-dir> --input rows.csv [--contrib]`: scores raw feature
//! rows with the native scorer (the one the functions serve with), or explains them.

use crate::train::bundle_out::block_on;
use crate::util::numfmt::fmt_f64;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use warmstart_core::model::ShapScratch;
use warmstart_core::{Bundle, DirSource, Model};

#[derive(clap::Args)]
pub struct Args {
    /// A LightGBM text model (model.txt) or a bundle directory.
    pub model: PathBuf,
    /// The rows to score: a CSV file, or `-` for standard input.
    #[arg(long, short)]
    pub input: PathBuf,
    /// Print feature contributions (SHAP values, raw-score space) instead of scores: per row,
    /// for each output, one value per feature followed by the bias, as LightGBM's
    /// `pred_contrib` (random forests: divided by the iteration count, as their score is).
    #[arg(long)]
    pub contrib: bool,
}

/// Scores the rows of `args.input` to standard output.
pub fn run_to_stdout(args: &Args) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    run(&args.model, &args.input, args.contrib, &mut out)
}

/// What scores the rows.
enum Scorer {
    Model(Model),
    Bundle(Bundle),
}

impl Scorer {
    fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            let b = block_on(Bundle::load(&DirSource::new(path)))
                .with_context(|| format!("loading the bundle {}", path.display()))?;
            Ok(Scorer::Bundle(b))
        } else {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let m = Model::parse_bytes(&bytes)
                .with_context(|| format!("parsing the LightGBM model {}", path.display()))?;
            Ok(Scorer::Model(m))
        }
    }

    fn num_features(&self) -> usize {
        match self {
            Scorer::Model(m) => m.num_features(),
            Scorer::Bundle(b) => b.num_features(),
        }
    }

    fn num_outputs(&self) -> usize {
        match self {
            Scorer::Model(m) => m.num_outputs(),
            Scorer::Bundle(b) => b.num_outputs(),
        }
    }

    fn score(&self, row: &[f64], out: &mut [f64]) -> Result<()> {
        match self {
            Scorer::Model(m) => m.predict_into(row, out)?,
            Scorer::Bundle(b) => b.score_into(row, out)?,
        }
        Ok(())
    }

    fn contrib_len(&self) -> usize {
        match self {
            Scorer::Model(m) => m.contrib_len(),
            Scorer::Bundle(b) => b.contrib_len(),
        }
    }

    /// Refuses up front (not at the first row) a model that cannot be explained.
    fn check_explainable(&self) -> Result<()> {
        let refused = match self {
            Scorer::Model(m) => !m.can_explain(),
            Scorer::Bundle(b) => !b.can_explain(),
        };
        if refused {
            // The same row through the explainer names the reason (no counts, too deep).
            let row = vec![0.0; self.num_features()];
            let mut out = vec![0.0; self.contrib_len()];
            self.contrib(&row, &mut out, &mut ShapScratch::new())
                .context("--contrib: this model cannot be explained")?;
        }
        Ok(())
    }

    fn contrib(&self, row: &[f64], out: &mut [f64], scratch: &mut ShapScratch) -> Result<()> {
        match self {
            Scorer::Model(m) => m.contrib_into(row, out, scratch)?,
            Scorer::Bundle(b) => b.contrib_into(row, out, scratch)?,
        }
        Ok(())
    }
}

/// Parses one input line: comma-separated numbers (`nan`, `inf`, `-inf` included).
pub fn parse_line(line: &str, line_no: usize, width: usize) -> Result<Vec<f64>> {
    let row: Vec<f64> = line
        .split(',')
        .enumerate()
        .map(|(c, tok)| {
            let tok = tok.trim();
            tok.parse::<f64>().map_err(|_| {
                anyhow::anyhow!("line {line_no}, column {}: `{tok}` is not a number", c + 1)
            })
        })
        .collect::<Result<_>>()?;
    if row.len() != width {
        bail!(
            "line {line_no} has {} values; the model expects {width} features",
            row.len()
        );
    }
    Ok(row)
}

/// Scores (or, with `contrib`, explains) every row of `input` (`-` = stdin) and writes one
/// line per row to `out`.
pub fn run(model: &Path, input: &Path, contrib: bool, out: &mut dyn Write) -> Result<()> {
    let scorer = Scorer::open(model)?;
    if contrib {
        scorer.check_explainable()?;
    }
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?,
        ))
    };
    let nf = scorer.num_features();
    let no = if contrib {
        scorer.contrib_len()
    } else {
        scorer.num_outputs()
    };
    let mut scores = vec![0.0; no];
    let mut scratch = ShapScratch::new();
    let mut text = String::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let row = parse_line(&line, i + 1, nf)?;
        if contrib {
            scorer.contrib(&row, &mut scores, &mut scratch)?;
        } else {
            scorer.score(&row, &mut scores)?;
        }
        text.clear();
        for (k, s) in scores.iter().enumerate() {
            if k > 0 {
                text.push(',');
            }
            text.push_str(&fmt_f64(*s));
        }
        text.push('\n');
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_line;

    #[test]
    fn parses_numbers_and_special_values() {
        let row = parse_line(" 1.5, nan,inf,-inf,-0.0,1e-40", 1, 6).unwrap();
        assert_eq!(row[0], 1.5);
        assert!(row[1].is_nan());
        assert_eq!(row[2], f64::INFINITY);
        assert_eq!(row[3], f64::NEG_INFINITY);
        assert!(row[4] == 0.0 && row[4].is_sign_negative());
        assert_eq!(row[5], 1e-40);
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = parse_line("1,2,x3", 7, 3).unwrap_err().to_string();
        assert_eq!(err, "line 7, column 3: `x3` is not a number");
        let err = parse_line("1,2", 4, 3).unwrap_err().to_string();
        assert!(err.contains("line 4 has 2 values"), "{err}");
        assert!(parse_line("1,,3", 1, 3)
            .unwrap_err()
            .to_string()
            .contains("column 2"));
    }
}
