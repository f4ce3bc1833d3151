//! Shortest round-trip formatting of `f64`, spelled the way Python's `repr` spells it.
//!
//! The digits are Rust's shortest round-trip digits (`{:e}`); the layout follows Python's
//! `repr(float)`: positional for exponents in `-4..16` (always with a fractional part, `1.0`),
//! scientific otherwise (`1e-05`, `1.5e+16`), and `nan`, `inf`, `-inf`. Every string parses back
//! to the same `f64` (Rust `str::parse`, Python `float`, LightGBM), and the LightGBM fixture
//! files (`*.expected.csv`, written by Python) come out byte for byte.

/// Formats `x` as described in the module docs.
pub fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let (int, frac) = if exp >= 0 {
            let e = exp as usize;
            if digits.len() > e + 1 {
                (digits[..=e].to_string(), digits[e + 1..].to_string())
            } else {
                (format!("{digits:0<width$}", width = e + 1), String::new())
            }
        } else {
            (
                "0".to_string(),
                format!("{}{digits}", "0".repeat((-exp - 1) as usize)),
            )
        };
        let frac = if frac.is_empty() { "0".into() } else { frac };
        format!("{sign}{int}.{frac}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_f64;

    #[test]
    fn matches_python_repr() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (123.0, "123.0"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e17, "1.2345e+17"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (0.7887155364807313, "0.7887155364807313"),
            (1.0000000036274914e-15, "1.0000000036274914e-15"),
            (123456.789, "123456.789"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for &(x, want) in cases {
            assert_eq!(fmt_f64(x), want, "{x:e}");
        }
    }

    #[test]
    fn round_trips() {
        let mut x = 1.0e-310f64;
        while x < 1e300 {
            for v in [x, -x, x * 1.234567890123, x / 3.0] {
                assert_eq!(fmt_f64(v).parse::<f64>().unwrap().to_bits(), v.to_bits());
            }
            x *= 7.3;
        }
    }
}
