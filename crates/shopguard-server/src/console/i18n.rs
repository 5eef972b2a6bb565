//! The console's two languages: message catalogues (`i18n/en.toml`, `i18n/zh-CN.toml`,
//! embedded), the choice of language from a cookie or `Accept-Language`, and numbers and
//! times written the way each locale reads them, in the operator's time zone.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// A language the console speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    /// English.
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Locale {
    /// Every locale, in the order the language switch shows them.
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// The BCP 47 tag (`lang` attribute, cookie value).
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    /// The locale of a tag such as `zh`, `zh-CN`, `zh-Hans-CN`, `en-GB`; `None` for others.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Locale::ZhCn),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    /// The best locale for an `Accept-Language` header (RFC 9110 §12.5.4): the spoken
    /// language with the highest weight, English when none is spoken here.
    pub fn negotiate(accept_language: &str) -> Locale {
        let mut best: Option<(f32, Locale)> = None;
        for item in accept_language.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(locale) = parts.next().and_then(Locale::from_tag) else {
                continue;
            };
            let weight = parts
                .find_map(|part| part.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if weight > 0.0 && best.is_none_or(|(held, _)| weight > held) {
                best = Some((weight, locale));
            }
        }
        best.map_or(Locale::En, |(_, locale)| locale)
    }
}

/// Both message catalogues, read once at start.
#[derive(Debug)]
pub struct Catalogs {
    en: HashMap<String, String>,
    zh: HashMap<String, String>,
}

/// A catalogue that does not parse (a build defect the tests catch).
#[derive(Debug, thiserror::Error)]
#[error("console catalogue {file}: {message}")]
pub struct CatalogError {
    file: &'static str,
    message: String,
}

impl Catalogs {
    /// Parses the embedded catalogues.
    pub fn load() -> Result<Catalogs, CatalogError> {
        Ok(Catalogs {
            en: flatten("en.toml", include_str!("i18n/en.toml"))?,
            zh: flatten("zh-CN.toml", include_str!("i18n/zh-CN.toml"))?,
        })
    }

    /// The text of `key` in `locale`; the English text when the locale lacks it, and the
    /// key itself when both do (the tests keep that from happening).
    pub fn text<'a>(&'a self, locale: Locale, key: &'a str) -> &'a str {
        let catalogue = match locale {
            Locale::En => &self.en,
            Locale::ZhCn => &self.zh,
        };
        catalogue
            .get(key)
            .or_else(|| self.en.get(key))
            .map_or(key, String::as_str)
    }

    /// Keys of one catalogue, sorted (for the tests).
    pub fn keys(&self, locale: Locale) -> Vec<&str> {
        let catalogue = match locale {
            Locale::En => &self.en,
            Locale::ZhCn => &self.zh,
        };
        let mut keys: Vec<&str> = catalogue.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }
}

/// A catalogue's tables flattened to dotted keys (`[nav] situation = "…"` → `nav.situation`).
fn flatten(file: &'static str, text: &str) -> Result<HashMap<String, String>, CatalogError> {
    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| CatalogError {
            file,
            message: error.to_string(),
        })?;
    let mut flat = HashMap::new();
    let mut stack: Vec<(String, &toml::Table)> = vec![(String::new(), &table)];
    while let Some((prefix, table)) = stack.pop() {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::String(text) => {
                    flat.insert(path, text.clone());
                }
                toml::Value::Table(inner) => stack.push((path, inner)),
                _ => {
                    return Err(CatalogError {
                        file,
                        message: format!("{path}: only strings and tables belong here"),
                    })
                }
            }
        }
    }
    Ok(flat)
}

/// A whole number with the locale's digit grouping (both group by thousands with commas).
pub fn format_number(value: i128) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        grouped.push('-');
    }
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A share as a percentage with one decimal (`12.5%`), or `–` when there is nothing to share.
pub fn format_percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// A time (ms since the epoch) in `zone`, as the locale writes it: `2026-12-03 15:18:23`
/// in English, `2026年12月3日 15:18:23` in Chinese.
pub fn format_time(locale: Locale, ms: i64, zone: &TimeZone) -> String {
    let Ok(timestamp) = Timestamp::from_millisecond(ms) else {
        return ms.to_string();
    };
    let zoned = timestamp.to_zoned(zone.clone());
    match locale {
        Locale::En => zoned.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Locale::ZhCn => zoned.strftime("%Y年%-m月%-d日 %H:%M:%S").to_string(),
    }
}

/// The time zone named `name` (IANA), UTC when it is unknown.
pub fn time_zone(name: &str) -> TimeZone {
    if name.len() > 64 {
        return TimeZone::UTC;
    }
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_hold_the_same_keys() {
        let catalogs = Catalogs::load().unwrap();
        assert_eq!(catalogs.keys(Locale::En), catalogs.keys(Locale::ZhCn));
        assert!(catalogs.keys(Locale::En).len() > 50);
    }

    #[test]
    fn accept_language_picks_the_heaviest_spoken_language() {
        assert_eq!(Locale::negotiate("zh-CN,zh;q=0.9,en;q=0.8"), Locale::ZhCn);
        assert_eq!(Locale::negotiate("en-GB,en;q=0.9,zh;q=0.8"), Locale::En);
        assert_eq!(Locale::negotiate("fr-FR,fr;q=0.9,zh;q=0.5"), Locale::ZhCn);
        assert_eq!(Locale::negotiate("de"), Locale::En);
        assert_eq!(Locale::negotiate(""), Locale::En);
        assert_eq!(Locale::negotiate("zh;q=0, en;q=0.1"), Locale::En);
    }

    #[test]
    fn numbers_and_times_read_as_each_locale_writes_them() {
        assert_eq!(format_number(0), "0");
        assert_eq!(format_number(999), "999");
        assert_eq!(format_number(1_000), "1,000");
        assert_eq!(format_number(-1_234_567), "-1,234,567");
        assert_eq!(format_percent(1, 8), "12.5%");
        assert_eq!(format_percent(1, 0), "–");
        let shanghai = time_zone("Asia/Shanghai");
        let ms = 1_764_775_103_000; // 2025-12-03T15:18:23Z
        assert_eq!(
            format_time(Locale::En, ms, &TimeZone::UTC),
            "2025-12-03 15:18:23"
        );
        assert_eq!(
            format_time(Locale::ZhCn, ms, &shanghai),
            "2025年12月3日 23:18:23"
        );
        assert_eq!(time_zone("Nowhere/Else"), TimeZone::UTC);
    }
}
