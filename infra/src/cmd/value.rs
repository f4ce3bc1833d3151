//! `warmstart value`: the valuation core offline. The request carries its inputs — `company`
//! (and optionally `peers`), or what-if cash flows (`fcff_forecast`, or `base_revenue` +
//! `ebit_margin_path`, with `net_debt` and `shares_outstanding`) — and the answer is the
//! same JSON `POST /valuation` returns. With a `fair-multiple` bundle, the ML section is
//! filled in as the endpoint would.

use anyhow::{anyhow, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use warmstart_core::valuation::{
    value, FairMultipleInput, FairMultipleModel, ValuationRequest, ValuationResponse,
};
use warmstart_core::{Bundle, DirSource};

#[derive(clap::Args)]
pub struct Args {
    /// The request JSON file, or `-` for standard input.
    pub request: PathBuf,
    /// A fair-multiple bundle directory: fills in the ML fair P/E section.
    #[arg(long)]
    pub model: Option<PathBuf>,
}

/// Values the request and prints the response JSON.
pub fn run_and_print(args: &Args) -> Result<()> {
    let request = read_request(&args.request)?;
    let response = run(&request, args.model.as_deref())?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

/// Reads the request (a file, or `-` for standard input).
pub fn read_request(path: &Path) -> Result<ValuationRequest> {
    let bytes = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("reading the request from standard input")?;
        b
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
    };
    ValuationRequest::from_json(&bytes).map_err(|e| anyhow!("{e}"))
}

/// Values `request`, scoring the fair P/E with the bundle in `model` when given.
pub fn run(request: &ValuationRequest, model: Option<&Path>) -> Result<ValuationResponse> {
    let fair = match model {
        None => None,
        Some(dir) => {
            let bundle = crate::train::bundle_out::block_on(Bundle::load(&DirSource::new(dir)))
                .with_context(|| format!("loading the bundle in {}", dir.display()))?;
            let model = FairMultipleModel::new(bundle)
                .with_context(|| format!("{} is not a fair-multiple bundle", dir.display()))?;
            match &request.company {
                Some(company) => Some(FairMultipleInput {
                    fair_pe: model
                        .fair_pe(&company.fundamentals())
                        .context("scoring the fair P/E")?,
                    name: model.name().to_string(),
                    version: model.version().to_string(),
                }),
                None => None,
            }
        }
    };
    value(request, None, &[], fair).map_err(|e| anyhow!("{e}"))
}
