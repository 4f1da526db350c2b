//! An offer's Markdown description as safe HTML (CONTRACT §13).
//!
//! Two layers, so that one mistake is not enough for a script to run:
//! 1. comrak renders CommonMark + GFM (tables, task lists, strikethrough, bare-URL autolinks) with raw HTML
//!    *escaped*: `<script>` in a description shows as text, it never becomes an element.
//! 2. ammonia then keeps only an allow-list of tags, attributes and URL schemes (no `javascript:`), and gives
//!    every link `rel="nofollow noopener"`.
//!
//! On top of the page's CSP, which runs no inline script at all.

use std::collections::HashSet;
use std::sync::LazyLock;

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .link_rel(Some("nofollow noopener"))
        .url_schemes(HashSet::from(["http", "https", "mailto", "tel"]))
        // The description's headings sit below the page's own h1 and h2 (see `shift_headings`).
        .rm_tags(["h1", "img"])
        .add_allowed_classes("span", ["task", "task-done"]);
    builder
});

/// Markdown → sanitised HTML, ready to be written into a page as is.
pub fn render_description(markdown: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.tasklist = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    // Raw HTML is shown as text, never rendered (CONTRACT §13).
    options.render.escape = true;
    let html = comrak::markdown_to_html(markdown, &options);
    let html = inert_task_items(&shift_headings(&html));
    SANITIZER.clean(&html).to_string()
}

/// The page has its h1 (the title) and h2s (its sections): a description's `#` becomes an h3, and so on.
/// Only comrak writes tags at this point (raw HTML was escaped), so the tags are exactly these.
fn shift_headings(html: &str) -> String {
    let mut html = html.to_owned();
    for level in (1..=5).rev() {
        let to = (level + 2).min(6);
        html = html
            .replace(&format!("<h{level}>"), &format!("<h{to}>"))
            .replace(&format!("</h{level}>"), &format!("</h{to}>"));
    }
    html
}

/// CONTRACT §13: task-list items are inert text marks, not checkboxes a candidate could tick or a screen
/// reader would announce as unlabelled form fields.
fn inert_task_items(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<input type=\"checkbox\"") {
        out.push_str(&rest[..start]);
        let Some(length) = rest[start..].find("/>").map(|end| end + 2) else {
            break;
        };
        let tag = &rest[start..start + length];
        if tag.contains("checked") {
            out.push_str("<span class=\"task-done\">☑</span>");
        } else {
            out.push_str("<span class=\"task\">☐</span>");
        }
        rest = &rest[start + length..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::render_description;

    #[test]
    fn gfm_renders() {
        let html = render_description(
            "# Role\n\n| a | b |\n|---|---|\n| c | d |\n\n~~old~~ see https://acme.example/jobs\n\n- [x] done\n- [ ] todo\n",
        );
        assert!(html.contains("<h3>Role</h3>"), "{html}");
        assert!(html.contains("<table>") && html.contains("<td>c</td>"), "{html}");
        assert!(html.contains("<del>old</del>"), "{html}");
        assert!(
            html.contains(
                r#"<a href="https://acme.example/jobs" rel="nofollow noopener">https://acme.example/jobs</a>"#
            ),
            "{html}"
        );
        assert!(html.contains("☑") && html.contains("☐") && !html.contains("<input"), "{html}");
    }

    #[test]
    fn raw_html_and_script_urls_stay_inert() {
        let html = render_description(
            "Hi <script>alert(1)</script> <img src=x onerror=alert(2)>\n\n<iframe src=\"https://evil.example\"></iframe>\n\n\
             [click](javascript:alert(3)) [data](data:text/html,<script>alert(4)</script>) <b onclick=\"x()\">b</b>\n\n\
             - [ ] <input type=\"checkbox\" />\n",
        );
        for tag in tags(&html) {
            let name = tag.split([' ', '>', '/']).next().unwrap_or("");
            assert!(["p", "a", "ul", "li", "span"].contains(&name), "<{tag} in {html}");
            for forbidden in [" on", "javascript:", "data:", "src="] {
                assert!(!tag.contains(forbidden), "{forbidden} in <{tag}");
            }
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    }

    /// The opening tags of `html`, without their `<`.
    fn tags(html: &str) -> Vec<&str> {
        html.split('<')
            .skip(1)
            .filter(|t| t.starts_with(|c: char| c.is_ascii_alphabetic()))
            .map(|t| &t[..t.find('>').unwrap_or(t.len())])
            .collect()
    }
}
