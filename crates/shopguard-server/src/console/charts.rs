//! Charts drawn on the server as SVG: no script, no library, readable without one.

use std::fmt::Write as _;

/// A line of `values` over a `width` × `height` box as an SVG document fragment (an `<svg>`
/// element with a filled area under the line). Values are scaled to the largest one.
pub(crate) fn sparkline(values: &[u64], width: u32, height: u32, label: &str) -> String {
    let mut svg = format!(
        r#"<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{}">"#,
        escape(label)
    );
    if values.len() >= 2 {
        let top = values.iter().copied().max().unwrap_or(0).max(1) as f64;
        let step = f64::from(width) / (values.len() - 1) as f64;
        let y = |value: u64| f64::from(height) - 1.0 - (value as f64 / top) * f64::from(height - 2);
        let mut line = String::new();
        for (index, value) in values.iter().enumerate() {
            let _ = write!(line, "{:.1},{:.1} ", index as f64 * step, y(*value));
        }
        let _ = write!(
            svg,
            r#"<polygon class="area" points="0,{height} {line}{width},{height}"/><polyline class="line" points="{line}"/>"#
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Escapes text for an XML attribute or element.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_scales_to_its_largest_value_and_escapes_its_label() {
        let svg = sparkline(&[0, 5, 10], 100, 20, "a<b");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("aria-label=\"a&lt;b\""));
        assert!(svg.contains("0.0,19.0"));
        assert!(svg.contains("100.0,1.0"));
        assert!(!sparkline(&[], 100, 20, "x").contains("polyline"));
    }
}
