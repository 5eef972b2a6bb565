//! `GET /docs/errors`: the error reference that every error answer's `link` points to.
//!
//! The reference is `docs/errors.md` from the repository, built into the binary. A browser
//! (an `Accept` header naming `text/html`) gets a small HTML rendering in which each code's
//! section carries the code as its `id`, so `/docs/errors#rate_limited` lands on it; any
//! other client gets the Markdown as it is.
//!
//! The renderer knows only what that file uses: `#` headings, paragraphs, `-` lists (with
//! indented continuation lines), fenced code blocks, `` `code` `` and `**strong**`. All
//! text is HTML-escaped before any markup is added.

use std::sync::LazyLock;

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

/// The error reference, as written in the repository.
pub const ERRORS_MARKDOWN: &str = include_str!("../../../../docs/errors.md");

static ERRORS_HTML: LazyLock<String> =
    LazyLock::new(|| render_page("shopguard error codes", ERRORS_MARKDOWN));

/// The error reference: HTML for browsers, Markdown otherwise.
#[utoipa::path(get, path = "/docs/errors", tag = "operations",
    responses((status = 200, description = "one section per error code, anchored by the code",
        content((String = "text/markdown"), (String = "text/html")))))]
pub async fn errors(headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            ERRORS_HTML.as_str(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            ERRORS_MARKDOWN,
        )
            .into_response()
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("text/html"))
        })
}

/// A whole HTML page around the rendering of `markdown`.
fn render_page(title: &str, markdown: &str) -> String {
    let mut page = String::with_capacity(markdown.len() * 2);
    page.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    page.push_str("<title>");
    page.push_str(&escape(title));
    page.push_str("</title>\n</head>\n<body>\n");
    page.push_str(&render_markdown(markdown));
    page.push_str("</body>\n</html>\n");
    page
}

/// What the renderer is in the middle of.
enum Block {
    None,
    Paragraph(Vec<String>),
    List(Vec<Vec<String>>),
    Code(Vec<String>),
}

/// Renders the small subset of Markdown described in the module docs.
fn render_markdown(markdown: &str) -> String {
    let mut html = String::new();
    let mut block = Block::None;
    for line in markdown.lines() {
        if let Block::Code(code) = &mut block {
            if line.trim_start().starts_with("```") {
                close(&mut html, std::mem::replace(&mut block, Block::None));
            } else {
                code.push(line.to_owned());
            }
            continue;
        }
        if line.trim_start().starts_with("```") {
            close(
                &mut html,
                std::mem::replace(&mut block, Block::Code(Vec::new())),
            );
            continue;
        }
        if line.trim().is_empty() {
            close(&mut html, std::mem::replace(&mut block, Block::None));
            continue;
        }
        if let Some((level, text)) = heading(line) {
            close(&mut html, std::mem::replace(&mut block, Block::None));
            let text = text.trim();
            html.push_str(&format!("<h{level}"));
            if is_anchor(text) {
                html.push_str(&format!(" id=\"{text}\""));
            }
            html.push_str(&format!(">{}</h{level}>\n", inline(text)));
            continue;
        }
        if let Some(item) = line.strip_prefix("- ") {
            if let Block::List(items) = &mut block {
                items.push(vec![item.to_owned()]);
            } else {
                close(
                    &mut html,
                    std::mem::replace(&mut block, Block::List(vec![vec![item.to_owned()]])),
                );
            }
            continue;
        }
        match &mut block {
            Block::List(items) if line.starts_with(' ') => {
                if let Some(last) = items.last_mut() {
                    last.push(line.trim().to_owned());
                }
            }
            Block::Paragraph(lines) => lines.push(line.trim().to_owned()),
            _ => {
                close(
                    &mut html,
                    std::mem::replace(&mut block, Block::Paragraph(vec![line.trim().to_owned()])),
                );
            }
        }
    }
    close(&mut html, block);
    html
}

/// Writes out a finished block.
fn close(html: &mut String, block: Block) {
    match block {
        Block::None => {}
        Block::Paragraph(lines) => {
            html.push_str("<p>");
            html.push_str(&inline(&lines.join("\n")));
            html.push_str("</p>\n");
        }
        Block::List(items) => {
            html.push_str("<ul>\n");
            for item in items {
                html.push_str("<li>");
                html.push_str(&inline(&item.join("\n")));
                html.push_str("</li>\n");
            }
            html.push_str("</ul>\n");
        }
        Block::Code(lines) => {
            html.push_str("<pre><code>");
            for line in lines {
                html.push_str(&escape(&line));
                html.push('\n');
            }
            html.push_str("</code></pre>\n");
        }
    }
}

/// `# text` to `## text` … up to level 6, with the level.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&byte| byte == b'#').count();
    if (1..=6).contains(&level) {
        line[level..].strip_prefix(' ').map(|text| (level, text))
    } else {
        None
    }
}

/// Whether a heading is an anchor of its own (an error code: lowercase letters, digits, `_`).
fn is_anchor(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// Escapes text, then turns `` `code` `` and `**strong**` into markup. An unpaired marker is
/// kept as it is.
fn inline(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    let mut rest = text;
    let mut strong_open = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                html.push_str("<code>");
                html.push_str(&escape(&after[..end]));
                html.push_str("</code>");
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix("**") {
            if strong_open || after.contains("**") {
                html.push_str(if strong_open { "</strong>" } else { "<strong>" });
                strong_open = !strong_open;
                rest = after;
                continue;
            }
        }
        let next = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '`' || c == '*')
            .map_or(rest.len(), |(index, _)| index);
        html.push_str(&escape(&rest[..next]));
        rest = &rest[next..];
    }
    if strong_open {
        html.push_str("</strong>");
    }
    html
}

/// Escapes the characters that mean something in HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_become_anchors_and_text_is_escaped() {
        let html = render_markdown(
            "# Title <x>\n\n## rate_limited\n\n`429` · `rate_limited`\n\n**What.** a <b> & \"c\"\nnext line\n",
        );
        assert_eq!(
            html,
            "<h1>Title &lt;x&gt;</h1>\n\
             <h2 id=\"rate_limited\">rate_limited</h2>\n\
             <p><code>429</code> · <code>rate_limited</code></p>\n\
             <p><strong>What.</strong> a &lt;b&gt; &amp; &quot;c&quot;\nnext line</p>\n"
        );
    }

    #[test]
    fn lists_and_code_blocks() {
        let html = render_markdown(
            "- one\n  more\n- `two` <i>\n\n```json\n{\"a\": \"<b>\"}\n```\nafter **open\n",
        );
        assert_eq!(
            html,
            "<ul>\n<li>one\nmore</li>\n<li><code>two</code> &lt;i&gt;</li>\n</ul>\n\
             <pre><code>{&quot;a&quot;: &quot;&lt;b&gt;&quot;}\n</code></pre>\n\
             <p>after **open</p>\n"
        );
    }

    #[test]
    fn html_only_when_asked_for() {
        let mut headers = HeaderMap::new();
        assert!(!wants_html(&headers));
        headers.insert(header::ACCEPT, "text/markdown, */*;q=0.1".parse().unwrap());
        assert!(!wants_html(&headers));
        headers.insert(
            header::ACCEPT,
            "application/xhtml+xml, TEXT/HTML;q=0.9".parse().unwrap(),
        );
        assert!(wants_html(&headers));
    }

    #[test]
    fn every_code_has_an_anchor_in_the_served_page() {
        for &code in shopguard_api_types::ErrorCode::ALL {
            let anchor = format!("<h2 id=\"{}\">", code.as_str());
            assert!(ERRORS_HTML.contains(&anchor), "no {anchor}");
        }
    }
}
