//! Reads the Santander Product Recommendation `train_ver2.csv` (Kaggle) into a [`Panel`].
//!
//! The file as downloaded has quirks this parser accepts: a quoted or unquoted header,
//! space-padded numbers (`" 35"`, `"     NA"`), `NA` for missing, product flags written `1`,
//! `1.0`, `0.0` or left empty, quoted provinces containing commas (`"CORUÑA, A"`), blank lines and
//! `-999999` seniority. Rows that cannot be read are counted and a few reasons kept; they never
//! stop the run.
//!
//! Kaggle's `test_ver2.csv` (the month to predict: the profile columns, no product columns) is
//! read by the same parser; [`ParseReport::has_products`] tells the two apart.

use crate::data::panel::{MonthDate, MonthlyRecord, Panel, TEXT_COLUMNS};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;
use warmstart_core::recommend::{Customer, PRODUCTS};

/// Columns of `train_ver2.csv`.
pub const NUM_COLUMNS: usize = 48;

/// Numeric columns kept, in [`MonthlyRecord`] field order: the recommender's numeric profile
/// fields.
const NUMERIC_COLUMNS: [&str; 7] = warmstart_core::recommend::NUMERIC;

/// How many rejection reasons are kept for the report.
const MAX_REASONS: usize = 5;

/// What a parse produced: the panel (sorted, one record per customer-month) and what was
/// dropped.
#[derive(Debug, Clone, Default)]
pub struct ParseReport {
    pub panel: Panel,
    /// Data rows read, blank lines excluded.
    pub rows: u64,
    pub blank_lines: u64,
    pub rejected: u64,
    /// The first few rejection reasons, each naming its line.
    pub reasons: Vec<String>,
    /// Whether the header has the 24 product columns (`train_ver2.csv`) or none
    /// (`test_ver2.csv`, where every record owns nothing).
    pub has_products: bool,
}

impl ParseReport {
    /// `rejected 3 rows: line 4: …; line 9: …` or `no rows rejected`.
    pub fn rejected_summary(&self) -> String {
        if self.rejected == 0 {
            return "no rows rejected".into();
        }
        let more = if self.rejected as usize > self.reasons.len() {
            "; …"
        } else {
            ""
        };
        format!(
            "rejected {} row{}: {}{more}",
            self.rejected,
            if self.rejected == 1 { "" } else { "s" },
            self.reasons.join("; ")
        )
    }

    fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(reason);
        }
    }
}

/// Column positions found in the header.
struct Columns {
    width: usize,
    fecha_dato: usize,
    ncodpers: usize,
    numeric: [usize; 7],
    text: [usize; 9],
    /// `None` for `test_ver2.csv`, which has no product column at all.
    products: Option<[usize; 24]>,
}

impl Columns {
    fn from_header(header: &csv::ByteRecord) -> Result<Self> {
        let names: Vec<String> = header
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f)
                    .trim()
                    .trim_matches('"')
                    .to_string()
            })
            .collect();
        let find = |name: &str| -> Result<usize> {
            names.iter().position(|n| n == name).with_context(|| {
                format!(
                    "the header has no `{name}` column; is this the Santander train_ver2.csv or \
                     test_ver2.csv? \
                     (header: {})",
                    truncate(&names.join(","), 200)
                )
            })
        };
        let mut numeric = [0; 7];
        for (slot, name) in numeric.iter_mut().zip(NUMERIC_COLUMNS) {
            *slot = find(name)?;
        }
        let mut text = [0; 9];
        for (slot, name) in text.iter_mut().zip(TEXT_COLUMNS) {
            *slot = find(name)?;
        }
        // A header without any product column is test_ver2.csv; one with only some of them is
        // a damaged train_ver2.csv and `find` names the first missing one.
        let products = if PRODUCTS
            .iter()
            .any(|(code, _)| names.iter().any(|n| n == code))
        {
            let mut products = [0; 24];
            for (slot, (code, _)) in products.iter_mut().zip(PRODUCTS) {
                *slot = find(code)?;
            }
            Some(products)
        } else {
            None
        };
        Ok(Columns {
            width: names.len(),
            fecha_dato: find("fecha_dato")?,
            ncodpers: find("ncodpers")?,
            numeric,
            text,
            products,
        })
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Parses a CSV file; `progress` receives bytes read so far.
pub fn parse_file(path: &Path, progress: impl FnMut(u64)) -> Result<ParseReport> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    parse_reader(std::io::BufReader::with_capacity(1 << 20, file), progress)
        .with_context(|| format!("reading {}", path.display()))
}

/// Parses CSV text from any reader (see the module docs for what is accepted).
pub fn parse_reader<R: Read>(reader: R, mut progress: impl FnMut(u64)) -> Result<ParseReport> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        // Row width is checked below so that a bad row is reported, not fatal, and a line of
        // only spaces counts as blank.
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header = rdr.byte_headers().context("reading the header")?.clone();
    if header.iter().all(|f| f.is_empty()) {
        bail!("the file is empty: no header");
    }
    let cols = Columns::from_header(&header)?;
    let mut report = ParseReport {
        has_products: cols.products.is_some(),
        ..ParseReport::default()
    };
    let mut record = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // Malformed CSV (e.g. invalid quoting): the reader resynchronises at the next line.
                let line = e.position().map_or(0, |p| p.line());
                report.rows += 1;
                report.reject(format!("line {line}: {e}"));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(e).context("reading the CSV");
                }
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.is_empty()) {
            report.blank_lines += 1;
            continue;
        }
        report.rows += 1;
        if report.rows.is_multiple_of(65_536) {
            progress(record.position().map_or(0, |p| p.byte()));
        }
        match parse_row(&record, &cols, &mut report.panel) {
            Ok(r) => report.panel.records.push(r),
            Err(reason) => report.reject(format!("line {line}: {reason}")),
        }
    }
    progress(rdr.position().byte());
    let dups = report.panel.sort_and_dedup();
    report.rejected += dups.count;
    for d in dups.examples {
        if report.reasons.len() < MAX_REASONS {
            report.reasons.push(d);
        }
    }
    Ok(report)
}

fn field(record: &csv::ByteRecord, i: usize) -> &str {
    // Every field we read as text is ASCII in the real file except provinces, which we skip;
    // invalid UTF-8 reads as a value that fails to parse (numbers) or is kept lossily (text).
    std::str::from_utf8(record.get(i).unwrap_or(b"")).unwrap_or("\u{FFFD}")
}

fn is_missing(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case("NA") || v.eq_ignore_ascii_case("nan")
}

fn parse_row(
    record: &csv::ByteRecord,
    cols: &Columns,
    panel: &mut Panel,
) -> std::result::Result<MonthlyRecord, String> {
    if record.len() != cols.width {
        return Err(format!(
            "{} fields where the header has {}",
            record.len(),
            cols.width
        ));
    }
    let fecha = field(record, cols.fecha_dato);
    let date = MonthDate::parse(fecha)
        .ok_or_else(|| format!("fecha_dato `{fecha}` is not a YYYY-MM-DD date"))?;
    let id = field(record, cols.ncodpers);
    let customer = parse_id(id).ok_or_else(|| format!("ncodpers `{id}` is not a customer id"))?;
    let mut rec = MonthlyRecord::new(customer, date);
    let mut numbers = [f64::NAN; 7];
    for ((slot, &col), name) in numbers.iter_mut().zip(&cols.numeric).zip(NUMERIC_COLUMNS) {
        let v = field(record, col);
        if !is_missing(v) {
            let x: f64 = v
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| format!("{name} `{v}` is not a number"))?;
            *slot = x;
        }
    }
    let [age, antiguedad, renta, cod_prov, actividad, nuevo, indrel] = numbers;
    rec.age = age;
    // -999999 marks unknown seniority in the Kaggle file; no seniority is negative.
    rec.antiguedad = if antiguedad < 0.0 {
        f64::NAN
    } else {
        antiguedad
    };
    rec.renta = renta;
    rec.cod_prov = cod_prov;
    rec.ind_actividad_cliente = actividad;
    rec.ind_nuevo = nuevo;
    rec.indrel = indrel;
    for (slot, &col) in rec.text.iter_mut().zip(&cols.text) {
        let v = field(record, col);
        if !is_missing(v) {
            *slot = Some(panel.intern(v).ok_or("too many distinct text values")?);
        }
    }
    for (p, &col) in cols.products.iter().flatten().enumerate() {
        let v = field(record, col);
        let owned = match v {
            "1" | "1.0" => true,
            "0" | "0.0" => false,
            // ind_nomina_ult1 / ind_nom_pens_ult1 are empty or NA in some months: not owned.
            v if is_missing(v) => false,
            _ => return Err(format!("{} `{v}` is not a 0/1 product flag", PRODUCTS[p].0)),
        };
        if owned {
            rec.owned |= 1 << p;
        }
    }
    Ok(rec)
}

fn parse_id(v: &str) -> Option<u64> {
    v.parse().ok().or_else(|| {
        // Some exports write ids as floats (`1050935.0`).
        let x: f64 = v.parse().ok()?;
        (x.fract() == 0.0 && (0.0..1e15).contains(&x)).then_some(x as u64)
    })
}

/// Reads a file and returns each customer's latest month as a [`Customer`] (see
/// [`Panel::latest_profiles`]), e.g. to seed the Features table.
pub fn latest_profiles(path: &Path) -> Result<(Vec<Customer>, ParseReport)> {
    let report = parse_file(path, |_| {})?;
    Ok((report.panel.latest_profiles(), report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::panel::{owns, text};
    use warmstart_core::recommend::product_index;

    const HEADER: &str = "fecha_dato,ncodpers,ind_empleado,pais_residencia,sexo,age,fecha_alta,\
ind_nuevo,antiguedad,indrel,ult_fec_cli_1t,indrel_1mes,tiprel_1mes,indresi,indext,conyuemp,\
canal_entrada,indfall,tipodom,cod_prov,nomprov,ind_actividad_cliente,renta,segmento,\
ind_ahor_fin_ult1,ind_aval_fin_ult1,ind_cco_fin_ult1,ind_cder_fin_ult1,ind_cno_fin_ult1,\
ind_ctju_fin_ult1,ind_ctma_fin_ult1,ind_ctop_fin_ult1,ind_ctpp_fin_ult1,ind_deco_fin_ult1,\
ind_deme_fin_ult1,ind_dela_fin_ult1,ind_ecue_fin_ult1,ind_fond_fin_ult1,ind_hip_fin_ult1,\
ind_plan_fin_ult1,ind_pres_fin_ult1,ind_reca_fin_ult1,ind_tjcr_fin_ult1,ind_valo_fin_ult1,\
ind_viv_fin_ult1,ind_nomina_ult1,ind_nom_pens_ult1,ind_recibo_ult1";

    fn quoted_header() -> String {
        HEADER
            .split(',')
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn parse(text: &str) -> ParseReport {
        parse_reader(text.as_bytes(), |_| {}).unwrap()
    }

    /// Kaggle-style rows: quoted, padded, NA, a province with a comma, float flags.
    const TRICKY: &str = r#"
"2015-01-28","1375586","N","ES","H"," 35","2015-01-12"," 0","      6"," 1","","1","A","S","N","","KHL","N"," 1","29","MALAGA"," 1","87218.1","02 - PARTICULARES","0","0","1","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0"

"2015-01-28","1050611","N","ES","V"," 23","2012-08-10"," 0","     35"," 1","","1","I","S","S","","KHE","N"," 1","15","CORUÑA, A"," 0","     NA","03 - UNIVERSITARIO","0","0","1","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","0","1.0","1.0","1"
   
"2015-02-28","1050611","N","ES","V"," 23","2012-08-10","NA","-999999"," 1","","1.0","A","S","S","","KHE","N"," 1","15","CORUÑA, A"," 1","","03 - UNIVERSITARIO","0","0","1","0","0","0","0","0","0","0","0","0","1","0","0","0","0","0","1","0","0","","","1"
"#;

    #[test]
    fn parses_quoted_padded_and_missing_values() {
        let text = format!("{}\n{TRICKY}", quoted_header());
        let r = parse(&text);
        assert_eq!(r.rejected, 0, "{:?}", r.reasons);
        assert_eq!(r.rows, 3);
        assert!(r.blank_lines >= 1, "a line of spaces is blank");
        let p = &r.panel;
        assert_eq!(p.records.len(), 3);
        // Sorted by customer then month.
        let a = &p.records[0];
        assert_eq!(a.customer, 1050611);
        assert_eq!(a.date.to_string(), "2015-01-28");
        assert_eq!(a.age, 23.0);
        assert_eq!(a.antiguedad, 35.0);
        assert!(a.renta.is_nan(), "padded NA is missing");
        assert_eq!(a.cod_prov, 15.0);
        assert_eq!(
            p.text(a.text[text::SEGMENTO].unwrap()),
            "03 - UNIVERSITARIO"
        );
        let nomina = product_index("ind_nomina_ult1").unwrap();
        assert!(owns(a.owned, nomina), "1.0 flags are owned");
        assert_eq!(a.owned.count_ones(), 4);
        let b = &p.records[1];
        assert_eq!(b.date.to_string(), "2015-02-28");
        assert!(b.antiguedad.is_nan(), "-999999 is missing");
        assert!(b.ind_nuevo.is_nan());
        assert!(b.renta.is_nan(), "empty is missing");
        assert!(!owns(b.owned, nomina), "empty flags are not owned");
        assert!(owns(b.owned, product_index("ind_tjcr_fin_ult1").unwrap()));
        let c = &p.records[2];
        assert_eq!(c.customer, 1375586);
        assert_eq!(c.renta, 87218.1);
        assert_eq!(p.text(c.text[text::CANAL_ENTRADA].unwrap()), "KHL");
        assert!(c.text[8].is_some() && c.text[text::INDEXT].is_some());
    }

    #[test]
    fn bad_rows_are_counted_with_reasons_not_fatal() {
        let good = "2015-01-28,1,N,ES,V,30,2015-01-01,0,10,1,,1,A,S,N,,KHE,N,1,28,MADRID,1,1000,\
02 - PARTICULARES,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0";
        let bad_age = good.replace(",30,", ",thirty,");
        let bad_date = good.replacen("2015-01-28", "28/01/2015", 1);
        let bad_flag = format!("{},2", &good[..good.len() - 2]);
        let short = "2015-01-28,2,N";
        let dup = good.to_string();
        let text = [
            HEADER, good, &bad_age, &bad_date, &bad_flag, short, &dup, "",
        ]
        .join("\n");
        let r = parse(&text);
        assert_eq!(r.panel.records.len(), 1);
        assert_eq!(r.rows, 6);
        assert_eq!(r.rejected, 5, "{:?}", r.reasons);
        let summary = r.rejected_summary();
        assert!(summary.starts_with("rejected 5 rows: "), "{summary}");
        assert!(
            summary.contains("line 3: age `thirty` is not a number"),
            "{summary}"
        );
        assert!(summary.contains("line 4: fecha_dato"), "{summary}");
        assert!(summary.contains("ind_recibo_ult1 `2`"), "{summary}");
        assert!(
            summary.contains("line 6: 3 fields where the header has 48"),
            "{summary}"
        );
        assert!(summary.contains("appears more than once"), "{summary}");
    }

    #[test]
    fn a_file_that_is_not_santander_is_an_error() {
        let err = parse_reader("a,b,c\n1,2,3\n".as_bytes(), |_| {}).unwrap_err();
        assert!(err.to_string().contains("no `"), "{err}");
        assert!(parse_reader("".as_bytes(), |_| {}).is_err());
    }

    #[test]
    fn parses_the_kaggle_sample_file() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/santander_train_sample.csv");
        let r = parse_file(&path, |_| {}).unwrap();
        assert_eq!(r.rejected, 0, "{:?}", r.reasons);
        assert_eq!(r.rows, 60);
        assert_eq!(r.panel.records.len(), 60);
        assert_eq!(r.panel.num_customers(), 60);
        let months = r.panel.months();
        assert_eq!(months.len(), 1);
        assert_eq!(months[0].to_string(), "2015-01-28");
        // Every sampled customer has a current account or something else, and rows with an
        // empty renta are missing, not zero.
        assert!(r.panel.records.iter().any(|x| x.renta.is_nan()));
        // Line 38: a customer whose whole profile is missing (`     NA` seniority).
        let blank = r
            .panel
            .records
            .iter()
            .find(|x| x.customer == 1056756)
            .unwrap();
        assert!(blank.age.is_nan() && blank.antiguedad.is_nan() && blank.cod_prov.is_nan());
        assert!(blank.text.iter().all(Option::is_none));
        assert_eq!(blank.owned.count_ones(), 1);
        let provinces_with_commas = std::fs::read_to_string(&path)
            .unwrap()
            .matches("\"CORUÑA, A\"")
            .count();
        assert!(provinces_with_commas > 0);
        let rec = r
            .panel
            .records
            .iter()
            .find(|x| x.customer == 1050935)
            .unwrap();
        assert_eq!(rec.age, 25.0);
        assert_eq!(rec.antiguedad, 35.0);
        assert_eq!(rec.renta, 47843.46);
        assert_eq!(rec.owned, 1 << product_index("ind_cco_fin_ult1").unwrap());
        let profiles = r.panel.latest_profiles();
        assert_eq!(profiles.len(), 60);
        let c = profiles
            .iter()
            .find(|c| c.customer_id == "1050935")
            .unwrap();
        assert_eq!(c.segmento.as_deref(), Some("03 - UNIVERSITARIO"));
        assert_eq!(c.owned, vec!["ind_cco_fin_ult1".to_string()]);
        // Its previous month precedes the data: unknown, so the latest ownership is repeated.
        assert_eq!(c.owned_prev, c.owned);
    }
}
