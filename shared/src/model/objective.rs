//! Output transforms, mirroring each LightGBM objective's `ConvertOutput`.
//!
//! The arithmetic is written in the same order as LightGBM's C++ (including its `1.0f`
//! literals, which promote to double) so results are bit-identical.

use super::ModelError;

/// How raw tree sums become predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// regression, regression_l1, huber, fair, quantile, mape, lambdarank, rank_xendcg, custom.
    Identity,
    /// regression family trained with `reg_sqrt`: `sign(x) * x * x`.
    SignedSquare,
    /// binary: `1 / (1 + exp(-sigmoid * x))`.
    Sigmoid(f64),
    /// cross_entropy: `1 / (1 + exp(-x))`.
    CrossEntropy,
    /// cross_entropy_lambda: `log1p(exp(x))`.
    CrossEntropyLambda,
    /// poisson, gamma, tweedie: `exp(x)`.
    Exp,
    /// multiclass: softmax over the classes.
    Softmax,
    /// multiclassova: an independent sigmoid per class.
    OvaSigmoid(f64),
}

impl Objective {
    /// Parses the `objective=` header value, e.g. `binary sigmoid:1` or `multiclass num_class:4`.
    /// `num_class` is the header's class count, used to cross-check multiclass objectives.
    pub(crate) fn parse(text: &str, num_class: usize) -> Result<Self, ModelError> {
        let mut tokens = text.split(' ').filter(|t| !t.is_empty());
        let name = tokens.next().unwrap_or("");
        let mut sigmoid: Option<f64> = None;
        let mut sqrt = false;
        let mut classes: Option<usize> = None;
        for token in tokens {
            match token.split_once(':') {
                Some(("sigmoid", v)) => sigmoid = Some(parse_param(text, v)?),
                Some(("num_class", v)) => {
                    classes = Some(
                        v.parse()
                            .map_err(|_| bad(text, "num_class is not an integer"))?,
                    )
                }
                None if token == "sqrt" => sqrt = true,
                _ => {}
            }
        }
        let unsupported = || ModelError::UnsupportedObjective(text.to_string());
        let objective = match name {
            "regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
                if sqrt {
                    Objective::SignedSquare
                } else {
                    Objective::Identity
                }
            }
            "lambdarank" | "rank_xendcg" | "custom" => Objective::Identity,
            "poisson" | "gamma" | "tweedie" => Objective::Exp,
            "cross_entropy" => Objective::CrossEntropy,
            "cross_entropy_lambda" => Objective::CrossEntropyLambda,
            "binary" => Objective::Sigmoid(positive_sigmoid(text, sigmoid)?),
            "multiclass" | "multiclassova" => {
                if classes != Some(num_class) {
                    return Err(bad(text, "num_class disagrees with the model header"));
                }
                if name == "multiclass" {
                    Objective::Softmax
                } else {
                    Objective::OvaSigmoid(positive_sigmoid(text, sigmoid)?)
                }
            }
            _ => return Err(unsupported()),
        };
        let single_output = !matches!(objective, Objective::Softmax | Objective::OvaSigmoid(_));
        if single_output && num_class != 1 {
            return Err(bad(text, "single-output objective with num_class > 1"));
        }
        Ok(objective)
    }

    /// A stable code and parameter for the compiled format (see `compiled`).
    pub(crate) fn to_code(self) -> (u8, f64) {
        match self {
            Objective::Identity => (0, 0.0),
            Objective::SignedSquare => (1, 0.0),
            Objective::Sigmoid(s) => (2, s),
            Objective::CrossEntropy => (3, 0.0),
            Objective::CrossEntropyLambda => (4, 0.0),
            Objective::Exp => (5, 0.0),
            Objective::Softmax => (6, 0.0),
            Objective::OvaSigmoid(s) => (7, s),
        }
    }

    /// The inverse of [`Self::to_code`]; `None` for unknown codes, a sigmoid that is not a
    /// positive finite number, or an objective that disagrees with `num_outputs`.
    pub(crate) fn from_code(code: u8, param: f64, num_outputs: usize) -> Option<Self> {
        let sigmoid = (param > 0.0 && param.is_finite()).then_some(param);
        let objective = match code {
            0 => Objective::Identity,
            1 => Objective::SignedSquare,
            2 => Objective::Sigmoid(sigmoid?),
            3 => Objective::CrossEntropy,
            4 => Objective::CrossEntropyLambda,
            5 => Objective::Exp,
            6 => Objective::Softmax,
            7 => Objective::OvaSigmoid(sigmoid?),
            _ => return None,
        };
        let multi = matches!(objective, Objective::Softmax | Objective::OvaSigmoid(_));
        (multi || num_outputs == 1).then_some(objective)
    }

    /// Converts raw scores in place. `out.len()` is the number of outputs.
    #[inline]
    pub(crate) fn convert(self, out: &mut [f64]) {
        match self {
            Objective::Identity => {}
            Objective::SignedSquare => {
                for x in out.iter_mut() {
                    *x = sign(*x) * *x * *x;
                }
            }
            Objective::Sigmoid(s) | Objective::OvaSigmoid(s) => {
                for x in out.iter_mut() {
                    *x = 1.0 / (1.0 + (-s * *x).exp());
                }
            }
            Objective::CrossEntropy => {
                for x in out.iter_mut() {
                    *x = 1.0 / (1.0 + (-*x).exp());
                }
            }
            Objective::CrossEntropyLambda => {
                for x in out.iter_mut() {
                    *x = x.exp().ln_1p();
                }
            }
            Objective::Exp => {
                for x in out.iter_mut() {
                    *x = x.exp();
                }
            }
            Objective::Softmax => softmax(out),
        }
    }
}

/// `Common::Sign`: an int in {-1, 0, 1}, promoted to double.
#[inline]
fn sign(x: f64) -> f64 {
    ((x > 0.0) as i32 - (x < 0.0) as i32) as f64
}

/// `Common::Softmax`, including `std::max`'s argument order (it keeps the running max on ties
/// and when the candidate is NaN).
fn softmax(v: &mut [f64]) {
    let Some(&first) = v.first() else { return };
    let mut wmax = first;
    for &x in &v[1..] {
        wmax = if x < wmax { wmax } else { x };
    }
    let mut wsum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - wmax).exp();
        wsum += *x;
    }
    for x in v.iter_mut() {
        *x /= wsum;
    }
}

fn parse_param(objective: &str, v: &str) -> Result<f64, ModelError> {
    v.parse::<f64>()
        .map_err(|_| bad(objective, "parameter is not a number"))
}

fn positive_sigmoid(objective: &str, sigmoid: Option<f64>) -> Result<f64, ModelError> {
    match sigmoid {
        Some(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(bad(objective, "sigmoid must be a positive finite number")),
    }
}

fn bad(objective: &str, reason: &str) -> ModelError {
    ModelError::Header {
        key: "objective",
        reason: format!("`{objective}`: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_objective_carries_its_sigmoid() {
        assert_eq!(
            Objective::parse("binary sigmoid:0.7", 1).unwrap(),
            Objective::Sigmoid(0.7)
        );
    }

    #[test]
    fn binary_without_positive_sigmoid_is_rejected() {
        assert!(Objective::parse("binary sigmoid:0", 1).is_err());
        assert!(Objective::parse("binary", 1).is_err());
    }

    #[test]
    fn multiclass_class_count_must_match_header() {
        assert_eq!(
            Objective::parse("multiclass num_class:4", 4).unwrap(),
            Objective::Softmax
        );
        assert!(Objective::parse("multiclass num_class:3", 4).is_err());
    }

    #[test]
    fn unknown_objective_is_an_error_not_a_guess() {
        assert!(matches!(
            Objective::parse("my_fancy_loss", 1),
            Err(ModelError::UnsupportedObjective(_))
        ));
    }

    #[test]
    fn regression_sqrt_squares_with_sign() {
        let mut v = [-3.0, 0.0, 2.0];
        Objective::parse("regression sqrt", 1)
            .unwrap()
            .convert(&mut v);
        assert_eq!(v, [-9.0, 0.0, 4.0]);
    }

    #[test]
    fn every_objective_round_trips_through_its_code() {
        for (o, k) in [
            (Objective::Identity, 1),
            (Objective::SignedSquare, 1),
            (Objective::Sigmoid(0.7), 1),
            (Objective::CrossEntropy, 1),
            (Objective::CrossEntropyLambda, 1),
            (Objective::Exp, 1),
            (Objective::Softmax, 3),
            (Objective::OvaSigmoid(1.5), 3),
        ] {
            let (code, param) = o.to_code();
            assert_eq!(Objective::from_code(code, param, k), Some(o));
        }
        assert_eq!(Objective::from_code(2, -1.0, 1), None);
        assert_eq!(Objective::from_code(0, 0.0, 2), None);
        assert_eq!(Objective::from_code(99, 0.0, 1), None);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut v = [1.0, 2.0, 3.0];
        Objective::Softmax.convert(&mut v);
        assert!((v.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(v[2] > v[1] && v[1] > v[0]);
    }
}
