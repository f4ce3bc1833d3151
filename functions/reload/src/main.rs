//! The `reload` Lambda function. Init happens once per container; the handler stays thin.
fn main() {
    eprintln!("reload: not wired to the Lambda runtime yet");
    std::process::exit(1);
}
