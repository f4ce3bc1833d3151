//! The `valuation` Lambda function. Init happens once per container; the handler stays thin.
fn main() {
    eprintln!("valuation: not wired to the Lambda runtime yet");
    std::process::exit(1);
}
