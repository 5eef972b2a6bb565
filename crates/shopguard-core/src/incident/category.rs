//! What kind of incident it is: the seven categories of §6.2 (after GB/Z 20986) and the
//! negative consequences of §8.3.3, both with explicit stored codes.

use super::labelled_enum;

labelled_enum!(
    /// The category of a security incident on an e-commerce platform (§6.2).
    Category, "incident category", {
        /// Phishing and trojans.
        PhishingTrojan = 1, "phishing_trojan", "钓鱼木马", "Phishing and trojans";
        /// Stolen accounts.
        AccountTheft = 2, "account_theft", "账户被盗", "Account theft";
        /// Fraud.
        Fraud = 3, "fraud", "欺诈", "Fraud";
        /// Spam accounts and spam messages.
        Spam = 4, "spam", "垃圾账户注册与垃圾信息传播", "Spam accounts and spam messages";
        /// Listings that infringe intellectual property.
        IpInfringement = 5, "ip_infringement", "违反知识产权商品发布", "Listings infringing intellectual property";
        /// Theft or tampering of users' private information.
        PrivacyBreach = 6, "privacy_breach", "用户隐私信息的窃取和篡改", "Theft or tampering of users' private information";
        /// Spreading malicious information.
        MaliciousInformation = 7, "malicious_information", "恶意信息传播", "Spreading malicious information";
    }
);

labelled_enum!(
    /// A negative consequence of an incident (§8.3.3).
    ConsequenceTag, "consequence tag", {
        /// Information disclosed without authorisation.
        UnauthorisedDisclosure = 1, "unauthorised_disclosure", "未授权泄露", "Unauthorised disclosure";
        /// Information modified without authorisation.
        UnauthorisedModification = 2, "unauthorised_modification", "未授权修改", "Unauthorised modification";
        /// An action or commitment denied (repudiation).
        Repudiation = 3, "repudiation", "抵赖", "Repudiation";
        /// A system or information unavailable.
        Unavailability = 4, "unavailability", "不可用", "Unavailability";
        /// A system or information destroyed.
        Destruction = 5, "destruction", "破坏", "Destruction";
        /// Theft.
        Theft = 6, "theft", "盗窃", "Theft";
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::StoredCode;

    #[test]
    fn category_codes_and_names_are_pinned() {
        use Category::*;
        assert_eq!(
            Category::CODES,
            [
                (PhishingTrojan, 1),
                (AccountTheft, 2),
                (Fraud, 3),
                (Spam, 4),
                (IpInfringement, 5),
                (PrivacyBreach, 6),
                (MaliciousInformation, 7),
            ]
        );
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "phishing_trojan",
                "account_theft",
                "fraud",
                "spam",
                "ip_infringement",
                "privacy_breach",
                "malicious_information"
            ]
        );
        for category in Category::ALL {
            assert_eq!(category.as_str().parse::<Category>(), Ok(*category));
            assert_eq!(Category::from_code(category.code()), Some(*category));
            assert_eq!(
                serde_json::to_value(category).unwrap(),
                serde_json::json!(category.as_str())
            );
            assert!(!category.label_zh().is_empty() && !category.label_en().is_empty());
        }
        assert_eq!(Category::from_code(0), None);
        assert_eq!(Category::from_code(8), None);
        assert_eq!(Fraud.label_zh(), "欺诈");
        assert!("ddos".parse::<Category>().unwrap_err().contains("fraud"));
    }

    #[test]
    fn consequence_codes_and_names_are_pinned() {
        use ConsequenceTag::*;
        assert_eq!(
            ConsequenceTag::CODES,
            [
                (UnauthorisedDisclosure, 1),
                (UnauthorisedModification, 2),
                (Repudiation, 3),
                (Unavailability, 4),
                (Destruction, 5),
                (Theft, 6),
            ]
        );
        let names: Vec<&str> = ConsequenceTag::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "unauthorised_disclosure",
                "unauthorised_modification",
                "repudiation",
                "unavailability",
                "destruction",
                "theft"
            ]
        );
        for tag in ConsequenceTag::ALL {
            assert_eq!(tag.as_str().parse::<ConsequenceTag>(), Ok(*tag));
        }
        assert_eq!(ConsequenceTag::from_code(7), None);
    }
}
