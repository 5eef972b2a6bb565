//! Notice templates: a subject, a plain-text body and an HTML body, rendered with minijinja
//! from the incident's facts (decision 0044).
//!
//! - **Strict:** a fact the template uses and the context lacks is an error naming the
//!   template part and line, never an empty string in a notice to a regulator.
//! - **Escaped:** the HTML body is rendered with HTML auto-escaping (a fact containing `<b>`
//!   shows as text); the subject and the text body are not escaped.
//! - **Bounded:** each part's source is at most [`MAX_TEMPLATE_BYTES`], the rendered part at
//!   most [`MAX_RENDERED_BYTES`], the rendering at most [`FUEL`] instructions (a loop over a
//!   huge range stops), and the rendered subject must be one line.
//! - **Inspectable:** [`NoticeTemplate::facts_used`] lists the top-level facts a template
//!   reads, so an editor can check a template against [`NoticeFacts`] before saving it.
//!
//! The built-in templates ([`NoticeTemplate::builtin`]) cover the five audiences of issue 19
//! in Chinese (zh-CN) and English. Each is one file under `templates/LANG/AUDIENCE.txt`: the
//! first line is the subject, then a blank line, then the text body; the HTML body is made
//! from the text body ([`html_from_text`]: paragraphs become `<p>`, line breaks `<br>`), so
//! the two never say different things.

use std::collections::BTreeSet;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

/// Largest source of one template part, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 32 * 1024;
/// Largest rendered part, in bytes.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;
/// Most minijinja instructions one part's rendering may run.
pub const FUEL: u64 = 100_000;

/// Who a notice is for (the audiences of issue 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Internal teams and management.
    Internal,
    /// Business partners (merchants, payment and logistics providers).
    Partners,
    /// Regulators and the authorities the platform reports to.
    Regulators,
    /// The users whose accounts or data are affected.
    AffectedUsers,
    /// The public (a statement on the website or to the press).
    Public,
}

impl Audience {
    /// Every audience, in the order above.
    pub const ALL: [Audience; 5] = [
        Audience::Internal,
        Audience::Partners,
        Audience::Regulators,
        Audience::AffectedUsers,
        Audience::Public,
    ];

    /// The wire name (`internal`, `partners`, `regulators`, `affected_users`, `public`).
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Internal => "internal",
            Audience::Partners => "partners",
            Audience::Regulators => "regulators",
            Audience::AffectedUsers => "affected_users",
            Audience::Public => "public",
        }
    }
}

/// The language of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Language {
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English.
    #[serde(rename = "en")]
    En,
}

impl Language {
    /// Both languages.
    pub const ALL: [Language; 2] = [Language::ZhCn, Language::En];

    /// The BCP 47 tag (`zh-CN`, `en`).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }
}

/// The facts the built-in templates use, as the notices step fills them from an incident.
/// Every field is text the caller has already formatted for the notice's language (times in
/// the platform's time zone, the level and category by their names).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NoticeFacts {
    /// The platform or company name.
    pub platform: String,
    /// The incident's reference, e.g. `INC-2026-0042`.
    pub reference: String,
    /// A short title.
    pub title: String,
    /// The category (§6.2), by name.
    pub category: String,
    /// The level (§6.4), by name.
    pub level: String,
    /// When it happened (or began).
    pub occurred_at: String,
    /// When it was detected.
    pub detected_at: String,
    /// When it was confirmed (the notice deadlines run from here).
    pub confirmed_at: String,
    /// What happened.
    pub summary: String,
    /// What is affected and how.
    pub impact: String,
    /// How many users are affected, as the notice should say it.
    pub affected_users: String,
    /// What has been done so far.
    pub actions_taken: String,
    /// What the recipients should do.
    pub user_actions: String,
    /// When the next update will come.
    pub next_update: String,
    /// The contact's name or team.
    pub contact_name: String,
    /// The contact's email address.
    pub contact_email: String,
    /// The contact's telephone number.
    pub contact_phone: String,
}

/// A notice template: subject, text body and optionally an HTML body, minijinja sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeTemplate {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (auto-escaped); `None` for text-only notices.
    pub html: Option<String>,
}

/// A rendered notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedNotice {
    /// The subject line (one line, trimmed).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, when the template has one.
    pub html: Option<String>,
}

/// Why a template was refused or could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A part's source is over [`MAX_TEMPLATE_BYTES`].
    #[error("template {part}: larger than {MAX_TEMPLATE_BYTES} bytes")]
    TooLarge {
        /// `subject`, `text` or `html`.
        part: &'static str,
    },
    /// A part does not parse.
    #[error("template {part}: {message}")]
    Syntax {
        /// `subject`, `text` or `html`.
        part: &'static str,
        /// minijinja's explanation, with the line.
        message: String,
    },
    /// Rendering failed: a missing fact, a wrong type, fuel or size exhausted.
    #[error("template {part}: {message}")]
    Render {
        /// `subject`, `text` or `html`.
        part: &'static str,
        /// What went wrong, with the line.
        message: String,
    },
}

const SUBJECT: &str = "subject.txt";
const TEXT: &str = "body.txt";
const HTML: &str = "body.html";

fn part_of(name: &str) -> &'static str {
    match name {
        SUBJECT => "subject",
        TEXT => "text",
        _ => "html",
    }
}

fn describe(error: &minijinja::Error) -> String {
    let mut message = error.to_string();
    if let Some(line) = error.line() {
        if !message.contains("line") {
            message.push_str(&format!(" (line {line})"));
        }
    }
    message
}

impl NoticeTemplate {
    fn parts(&self) -> Vec<(&'static str, &str)> {
        let mut parts = vec![(SUBJECT, self.subject.as_str()), (TEXT, self.text.as_str())];
        if let Some(html) = &self.html {
            parts.push((HTML, html.as_str()));
        }
        parts
    }

    fn environment(&self) -> Result<Environment<'_>, TemplateError> {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        environment.set_fuel(Some(FUEL));
        environment.set_keep_trailing_newline(true);
        for (name, source) in self.parts() {
            if source.len() > MAX_TEMPLATE_BYTES {
                return Err(TemplateError::TooLarge {
                    part: part_of(name),
                });
            }
            environment
                .add_template(name, source)
                .map_err(|error| TemplateError::Syntax {
                    part: part_of(name),
                    message: describe(&error),
                })?;
        }
        Ok(environment)
    }

    /// Checks sizes and syntax without rendering.
    pub fn check(&self) -> Result<(), TemplateError> {
        self.environment().map(|_| ())
    }

    /// The top-level facts the template reads (for `incident.title`, `incident`), in all
    /// parts together.
    pub fn facts_used(&self) -> Result<BTreeSet<String>, TemplateError> {
        let environment = self.environment()?;
        let mut facts = BTreeSet::new();
        for (name, _) in self.parts() {
            let template =
                environment
                    .get_template(name)
                    .map_err(|error| TemplateError::Syntax {
                        part: part_of(name),
                        message: describe(&error),
                    })?;
            facts.extend(template.undeclared_variables(false));
        }
        Ok(facts)
    }

    /// Renders every part from `facts` (any serializable value whose top level is a map:
    /// [`NoticeFacts`], a `serde_json` object, …).
    pub fn render(&self, facts: &impl Serialize) -> Result<RenderedNotice, TemplateError> {
        let environment = self.environment()?;
        let context = minijinja::Value::from_serialize(facts);
        let render = |name: &'static str| -> Result<String, TemplateError> {
            let part = part_of(name);
            let template =
                environment
                    .get_template(name)
                    .map_err(|error| TemplateError::Syntax {
                        part,
                        message: describe(&error),
                    })?;
            let rendered = template
                .render(&context)
                .map_err(|error| TemplateError::Render {
                    part,
                    message: describe(&error),
                })?;
            if rendered.len() > MAX_RENDERED_BYTES {
                return Err(TemplateError::Render {
                    part,
                    message: format!("the result is larger than {MAX_RENDERED_BYTES} bytes"),
                });
            }
            Ok(rendered)
        };
        let subject = render(SUBJECT)?.trim().to_owned();
        if subject.is_empty() || subject.chars().any(char::is_control) {
            return Err(TemplateError::Render {
                part: "subject",
                message: "the subject must render to one non-empty line".into(),
            });
        }
        let text = render(TEXT)?;
        let html = match self.html {
            Some(_) => Some(render(HTML)?),
            None => None,
        };
        Ok(RenderedNotice {
            subject,
            text,
            html,
        })
    }

    /// The built-in template for an audience in a language.
    pub fn builtin(audience: Audience, language: Language) -> NoticeTemplate {
        let source = builtin_source(audience, language);
        let (subject, body) = source.split_once("\n\n").unwrap_or((source, ""));
        NoticeTemplate {
            subject: subject.trim().to_owned(),
            text: body.to_owned(),
            html: Some(html_from_text(body, language)),
        }
    }
}

fn builtin_source(audience: Audience, language: Language) -> &'static str {
    match (language, audience) {
        (Language::En, Audience::Internal) => include_str!("../templates/en/internal.txt"),
        (Language::En, Audience::Partners) => include_str!("../templates/en/partners.txt"),
        (Language::En, Audience::Regulators) => include_str!("../templates/en/regulators.txt"),
        (Language::En, Audience::AffectedUsers) => {
            include_str!("../templates/en/affected_users.txt")
        }
        (Language::En, Audience::Public) => include_str!("../templates/en/public.txt"),
        (Language::ZhCn, Audience::Internal) => include_str!("../templates/zh-CN/internal.txt"),
        (Language::ZhCn, Audience::Partners) => include_str!("../templates/zh-CN/partners.txt"),
        (Language::ZhCn, Audience::Regulators) => {
            include_str!("../templates/zh-CN/regulators.txt")
        }
        (Language::ZhCn, Audience::AffectedUsers) => {
            include_str!("../templates/zh-CN/affected_users.txt")
        }
        (Language::ZhCn, Audience::Public) => include_str!("../templates/zh-CN/public.txt"),
    }
}

/// An HTML template from a text template: each paragraph (separated by a blank line) becomes
/// a `<p>`, line breaks inside it `<br>`, in a minimal UTF-8 document. The text's literal
/// parts must not contain `<`, `>` or `&` (the built-in ones do not; a test checks), and
/// expressions are escaped when rendered, since the result is an `.html` template.
pub fn html_from_text(text: &str, language: Language) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|paragraph| !paragraph.is_empty())
        .map(|paragraph| {
            format!(
                "<p>{}</p>",
                paragraph.lines().collect::<Vec<_>>().join("<br>\n")
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head><meta charset=\"utf-8\"></head>\n<body>\n{}\n</body>\n</html>\n",
        language.as_str(),
        paragraphs.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> NoticeFacts {
        NoticeFacts {
            platform: "示例商城".into(),
            reference: "INC-2026-0042".into(),
            title: "部分用户账户遭撞库登录".into(),
            category: "网络攻击事件".into(),
            level: "较大（III 级）".into(),
            occurred_at: "2026-12-01 02:10".into(),
            detected_at: "2026-12-01 02:25".into(),
            confirmed_at: "2026-12-01 03:00".into(),
            summary: "攻击者使用外部泄露的账号密码批量尝试登录。".into(),
            impact: "约 1,200 个账户被成功登录，未发现支付信息泄露。".into(),
            affected_users: "约 1,200 人".into(),
            actions_taken: "已封禁攻击来源，强制受影响账户重置密码。".into(),
            user_actions: "请修改密码并开启两步验证。".into(),
            next_update: "2026-12-02 18:00".into(),
            contact_name: "安全应急响应中心".into(),
            contact_email: "security@shop.example".into(),
            contact_phone: "400-000-0000".into(),
        }
    }

    fn facts_en() -> NoticeFacts {
        NoticeFacts {
            platform: "Example Mall".into(),
            title: "Credential stuffing against customer accounts".into(),
            category: "network attack".into(),
            level: "III (relatively large)".into(),
            summary: "An attacker tried passwords leaked elsewhere against our login page.".into(),
            impact: "About 1,200 accounts were signed in to; no payment data was exposed.".into(),
            affected_users: "about 1,200".into(),
            actions_taken:
                "We blocked the sources and reset the passwords of the accounts concerned.".into(),
            user_actions: "Change your password and turn on two-step verification.".into(),
            contact_name: "Security Response Center".into(),
            ..facts()
        }
    }

    fn facts_for(language: Language) -> NoticeFacts {
        match language {
            Language::ZhCn => facts(),
            Language::En => facts_en(),
        }
    }

    #[test]
    fn every_builtin_renders_in_both_languages_and_uses_only_known_facts() {
        let known: BTreeSet<String> = serde_json::to_value(facts())
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for language in Language::ALL {
            for audience in Audience::ALL {
                let template = NoticeTemplate::builtin(audience, language);
                let used = template.facts_used().unwrap();
                assert!(
                    used.is_subset(&known),
                    "{audience:?}/{language:?} uses unknown facts: {:?}",
                    used.difference(&known).collect::<Vec<_>>()
                );
                for needed in ["reference", "contact_email"] {
                    assert!(used.contains(needed), "{audience:?}/{language:?}: {needed}");
                }
                let source = builtin_source(audience, language);
                assert!(
                    !source.contains(['<', '>', '&']),
                    "{audience:?}/{language:?}: literal markup in a text template"
                );
                let rendered = template.render(&facts()).unwrap();
                assert!(
                    rendered.subject.contains("INC-2026-0042")
                        || rendered.subject.contains("示例商城")
                );
                assert!(rendered.text.contains("security@shop.example"));
                let html = rendered.html.unwrap();
                assert!(html.contains("<p>") && html.contains("security@shop.example"));
            }
        }
    }

    // The built-ins as a reader gets them, for review: `cargo insta review` after a change.
    #[test]
    fn builtins_render_as_snapshotted() {
        for language in Language::ALL {
            for audience in Audience::ALL {
                let rendered = NoticeTemplate::builtin(audience, language)
                    .render(&facts_for(language))
                    .unwrap();
                insta::assert_snapshot!(
                    format!("{}-{}", language.as_str(), audience.as_str()),
                    format!("Subject: {}\n\n{}", rendered.subject, rendered.text)
                );
            }
        }
        let html = NoticeTemplate::builtin(Audience::Public, Language::ZhCn)
            .render(&facts())
            .unwrap()
            .html
            .unwrap();
        insta::assert_snapshot!("zh-CN-public-html", html);
    }

    #[test]
    fn a_missing_fact_is_an_error_naming_the_part() {
        let mut context = serde_json::to_value(facts()).unwrap();
        context.as_object_mut().unwrap().remove("impact");
        let error = NoticeTemplate::builtin(Audience::Regulators, Language::En)
            .render(&context)
            .unwrap_err();
        assert!(
            matches!(&error, TemplateError::Render { part: "text", message } if message.contains("undefined")),
            "{error:?}"
        );
    }

    #[test]
    fn html_escapes_facts_and_text_does_not() {
        let template = NoticeTemplate {
            subject: "{{ title }}".into(),
            text: "{{ summary }}".into(),
            html: Some("<p>{{ summary }}</p>".into()),
        };
        let context = serde_json::json!({"title": "A & B", "summary": "<script>x</script>"});
        let rendered = template.render(&context).unwrap();
        assert_eq!(rendered.subject, "A & B");
        assert_eq!(rendered.text, "<script>x</script>");
        assert_eq!(
            rendered.html.unwrap(),
            "<p>&lt;script&gt;x&lt;&#x2f;script&gt;</p>"
        );
    }

    #[test]
    fn limits_hold() {
        let huge = NoticeTemplate {
            subject: "x".into(),
            text: "x".repeat(MAX_TEMPLATE_BYTES + 1),
            html: None,
        };
        assert_eq!(huge.check(), Err(TemplateError::TooLarge { part: "text" }));
        let endless = NoticeTemplate {
            subject: "x".into(),
            text: "{% for i in range(1000000) %}{{ i }}{% endfor %}".into(),
            html: None,
        };
        assert!(matches!(
            endless.render(&serde_json::json!({})),
            Err(TemplateError::Render { part: "text", .. })
        ));
        let broken = NoticeTemplate {
            subject: "{{ title".into(),
            text: String::new(),
            html: None,
        };
        assert!(matches!(
            broken.check(),
            Err(TemplateError::Syntax {
                part: "subject",
                ..
            })
        ));
        let two_lines = NoticeTemplate {
            subject: "a\n{{ title }}".into(),
            text: String::new(),
            html: None,
        };
        assert!(two_lines
            .render(&serde_json::json!({"title": "b"}))
            .is_err());
    }

    #[test]
    fn facts_used_lists_top_level_names() {
        let template = NoticeTemplate {
            subject: "{{ incident.title }}".into(),
            text: "{% if contact %}{{ contact.email }}{% endif %}{% set x = 1 %}{{ x }}".into(),
            html: None,
        };
        assert_eq!(
            template.facts_used().unwrap(),
            BTreeSet::from(["contact".to_owned(), "incident".to_owned()])
        );
    }
}
