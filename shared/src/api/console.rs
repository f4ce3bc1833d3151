//! The web console: one static page (`shared/console/index.html`, its CSS and JS inline) that
//! the predict function serves at `GET /`. It is compiled into the binary, so serving it reads
//! nothing and needs no build step; in the browser it calls the API of the same origin with
//! the bearer token the user pastes (the page itself needs none, as `/health`).

use crate::http::{Body, Response};
use base64::Engine;
use lambda_http::http::{HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// The page, as committed.
pub const PAGE: &str = include_str!("../../console/index.html");

/// The page's Content-Security-Policy: its own inline `<script>` and `<style>` blocks (by
/// sha256, so an injected script or style would not run), requests to its own origin only,
/// and no framing.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hashes = |tag: &str| {
        inline_blocks(PAGE, tag)
            .map(|block| {
                let digest = Sha256::digest(block.as_bytes());
                format!(
                    " 'sha256-{}'",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                )
            })
            .collect::<String>()
    };
    format!(
        "default-src 'none'; script-src{}; style-src{}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hashes("script"),
        hashes("style")
    )
});

/// The text between each `<tag>` and `</tag>` of `page` (the page writes its inline blocks
/// without attributes).
fn inline_blocks<'a>(page: &'a str, tag: &str) -> impl Iterator<Item = &'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut rest = page;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let len = rest[start..].find(&close)?;
        let block = &rest[start..start + len];
        rest = &rest[start + len + close.len()..];
        Some(block)
    })
}

/// `200 text/html` with the page and its security headers.
pub fn response(request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::Text(PAGE.to_string()));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Revalidated on each load: a deploy changes the page under the same URL.
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        h.insert("content-security-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_pages_inline_blocks() {
        let scripts: Vec<&str> = inline_blocks(PAGE, "script").collect();
        let styles: Vec<&str> = inline_blocks(PAGE, "style").collect();
        assert_eq!((scripts.len(), styles.len()), (1, 1));
        assert!(
            scripts[0].contains("fetch("),
            "the script block is the console's"
        );
        // Each block is exactly one element's text (a tag name in a comment above it would make
        // the hash cover more than the browser hashes).
        for block in scripts.iter().chain(&styles) {
            assert!(
                !block.contains("<script") && !block.contains("<style"),
                "{block:.80}"
            );
            assert!(
                !block.contains("-->") && !block.contains("</"),
                "{block:.80}"
            );
        }
        let csp = CSP.as_str();
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        // No other script or style source, and nothing loaded from elsewhere (no internet).
        assert!(!PAGE.contains(" src="), "an external script or image");
        assert!(!PAGE.contains("stylesheet"), "an external stylesheet");
        assert!(!PAGE.contains("href=\"http"), "a link off the API");
    }

    #[test]
    fn blocks_are_found_in_order_and_unclosed_ones_ignored() {
        let page = "<style>a</style><script>one</script>x<script>two</script><script>open";
        assert_eq!(
            inline_blocks(page, "script").collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert_eq!(inline_blocks(page, "style").collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn the_page_is_html_with_its_headers() {
        let resp = response("req-1");
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        assert_eq!(h["x-request-id"], "req-1");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
        assert!(crate::http::body_text(&resp).starts_with("<!doctype html>"));
    }
}
