//! Labelled marketplace traffic for testing detection: normal users living their lives over
//! several days, and ten kinds of attack in the last day, every event tagged with what it is.
//!
//! Normal users register, log in (sometimes mistyping a password), browse and order, pay with
//! their cards, comment, sometimes travel, request the odd refund; sellers publish listings
//! and withdraw their income; some users sit behind shared office IPs. Attacks are played by
//! their own actors. In each attack, the events a system should stop are marked `positive`;
//! the lead-in (the first failed logins of a brute force, the first cards of card testing)
//! is malicious but not expected to be caught, because no rule can tell it apart yet.
//!
//! Generation is deterministic for a seed. [`Scoreboard`] turns decisions into precision and
//! recall per attack kind and the false-positive rate of normal traffic.
#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use shopguard_core::lists::ListError;
use shopguard_core::{
    Channel, Decision, Engine, Event, EventError, EventInput, EventKind, Outcome,
};

/// The kinds of attack simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// Many passwords tried on one account from one source.
    BruteForce,
    /// Leaked credentials tried on many accounts from a proxy pool.
    CredentialStuffing,
    /// A stolen account: new device and country, then password, payment password, withdrawal.
    AccountTakeover,
    /// Many accounts registered from one IP or device.
    BulkRegistration,
    /// Registrations with throwaway email addresses.
    DisposableEmail,
    /// Many small payments with many cards to find live ones.
    CardTesting,
    /// A new account whose first order is expensive.
    HighValueFirstOrder,
    /// Refunds requested for most orders.
    RefundAbuse,
    /// Money deposited and withdrawn again within the hour.
    RapidWithdrawal,
    /// Several transactions just under the reporting threshold.
    Structuring,
}

impl AttackKind {
    /// Every kind.
    pub const ALL: [AttackKind; 10] = [
        AttackKind::BruteForce,
        AttackKind::CredentialStuffing,
        AttackKind::AccountTakeover,
        AttackKind::BulkRegistration,
        AttackKind::DisposableEmail,
        AttackKind::CardTesting,
        AttackKind::HighValueFirstOrder,
        AttackKind::RefundAbuse,
        AttackKind::RapidWithdrawal,
        AttackKind::Structuring,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttackKind::BruteForce => "brute_force",
            AttackKind::CredentialStuffing => "credential_stuffing",
            AttackKind::AccountTakeover => "account_takeover",
            AttackKind::BulkRegistration => "bulk_registration",
            AttackKind::DisposableEmail => "disposable_email",
            AttackKind::CardTesting => "card_testing",
            AttackKind::HighValueFirstOrder => "high_value_first_order",
            AttackKind::RefundAbuse => "refund_abuse",
            AttackKind::RapidWithdrawal => "rapid_withdrawal",
            AttackKind::Structuring => "structuring",
        }
    }
}

/// What an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "label", rename_all = "snake_case")]
pub enum Label {
    /// A normal user's action.
    Normal,
    /// Part of an attack.
    Attack {
        /// Which kind.
        kind: AttackKind,
        /// Whether a good system should stop this event (not allow it).
        positive: bool,
    },
}

/// An event with its label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelledEvent {
    /// The event as a client would send it.
    pub event: EventInput,
    /// What it is.
    pub label: Label,
}

/// How much traffic to make.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Seed; the same seed gives the same traffic.
    pub seed: u64,
    /// Normal users.
    pub users: usize,
    /// Days of normal history; attacks happen on the last day.
    pub days: u32,
    /// Instances of each attack kind.
    pub instances_per_attack: usize,
    /// Start of the simulated time (ms since epoch).
    pub start_ms: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 7,
            users: 2_000,
            days: 10,
            instances_per_attack: 20,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
        }
    }
}

/// Disposable email domains the attacks use; a real deployment imports a maintained feed.
pub const DISPOSABLE_DOMAINS: &[&str] = &[
    "mailinator.com",
    "guerrillamail.com",
    "10minutemail.com",
    "yopmail.com",
    "temp-mail.org",
    "sharklasers.com",
];

/// List entries the simulated platform has before traffic starts: `(list, value)`.
pub fn seed_list_entries() -> Vec<(&'static str, String)> {
    DISPOSABLE_DOMAINS
        .iter()
        .map(|domain| ("disposable_email_domains", (*domain).to_owned()))
        .collect()
}

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

struct City {
    country: &'static str,
    name: &'static str,
    lat: f64,
    lon: f64,
}

const HOME_CITIES: &[City] = &[
    City {
        country: "CN",
        name: "Hangzhou",
        lat: 30.27,
        lon: 120.15,
    },
    City {
        country: "CN",
        name: "Shanghai",
        lat: 31.23,
        lon: 121.47,
    },
    City {
        country: "CN",
        name: "Beijing",
        lat: 39.90,
        lon: 116.40,
    },
    City {
        country: "CN",
        name: "Shenzhen",
        lat: 22.54,
        lon: 114.06,
    },
    City {
        country: "CN",
        name: "Chengdu",
        lat: 30.57,
        lon: 104.07,
    },
    City {
        country: "HK",
        name: "Hong Kong",
        lat: 22.32,
        lon: 114.17,
    },
    City {
        country: "SG",
        name: "Singapore",
        lat: 1.35,
        lon: 103.82,
    },
];

const TRAVEL_CITIES: &[City] = &[
    City {
        country: "JP",
        name: "Tokyo",
        lat: 35.68,
        lon: 139.69,
    },
    City {
        country: "TH",
        name: "Bangkok",
        lat: 13.76,
        lon: 100.50,
    },
    City {
        country: "KR",
        name: "Seoul",
        lat: 37.57,
        lon: 126.98,
    },
];

const ATTACKER_CITIES: &[City] = &[
    City {
        country: "BR",
        name: "Sao Paulo",
        lat: -23.55,
        lon: -46.63,
    },
    City {
        country: "NG",
        name: "Lagos",
        lat: 6.52,
        lon: 3.38,
    },
    City {
        country: "RU",
        name: "Moscow",
        lat: 55.76,
        lon: 37.62,
    },
    City {
        country: "US",
        name: "Ashburn",
        lat: 39.04,
        lon: -77.49,
    },
];

const EMAIL_DOMAINS: &[&str] = &[
    "qq.com",
    "163.com",
    "gmail.com",
    "outlook.com",
    "126.com",
    "foxmail.com",
];

const BENIGN_COMMENTS: &[&str] = &[
    "fast delivery, well packed",
    "colour is a bit different from the photos but fine",
    "good value, would buy again",
    "seller answered all my questions",
    "size runs small, order one up",
    "物流很快，包装完好",
    "质量不错，性价比高",
];

struct User {
    id: String,
    city: &'static City,
    devices: Vec<String>,
    cards: Vec<String>,
    ip: String,
    email: String,
    registered_ms: i64,
    seller: bool,
}

struct Generator {
    rng: SmallRng,
    config: SimConfig,
    events: Vec<(i64, LabelledEvent)>,
    users: Vec<User>,
    next_id: u64,
}

fn ip_in(prefix: (u8, u8, u8), host: u8) -> String {
    format!("{}.{}.{}.{}", prefix.0, prefix.1, prefix.2, host)
}

impl Generator {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    fn push(&mut self, at_ms: i64, event: EventInput, label: Label) {
        let mut event = event;
        event.occurred_at_ms = Some(at_ms);
        self.events.push((at_ms, LabelledEvent { event, label }));
    }

    fn public_prefix(&mut self) -> (u8, u8, u8) {
        // Ordinary consumer ranges; never the attackers' ranges below.
        (self.rng.gen_range(36..=123), self.rng.gen(), self.rng.gen())
    }

    fn base(&self, user: &User, kind: EventKind) -> EventInput {
        EventInput {
            kind: Some(kind),
            user_id: Some(user.id.clone()),
            ip: Some(user.ip.clone()),
            device_id: Some(user.devices[0].clone()),
            channel: Some(Channel::App),
            country: Some(user.city.country.to_owned()),
            city: Some(user.city.name.to_owned()),
            latitude: Some(user.city.lat),
            longitude: Some(user.city.lon),
            ..EventInput::default()
        }
    }

    fn make_users(&mut self) {
        let offices: Vec<String> = (0..(self.config.users / 60).max(1))
            .map(|_| {
                let prefix = self.public_prefix();
                ip_in(prefix, 1)
            })
            .collect();
        for index in 0..self.config.users {
            let city = &HOME_CITIES[self.rng.gen_range(0..HOME_CITIES.len())];
            let id = format!("user{index}");
            let mut devices = vec![format!("dev-{index}-a")];
            if self.rng.gen_bool(0.25) {
                devices.push(format!("dev-{index}-b"));
            }
            let cards = (0..self.rng.gen_range(1..=2))
                .map(|card| format!("card-{index}-{card}"))
                .collect();
            let ip = if self.rng.gen_bool(0.15) {
                offices[self.rng.gen_range(0..offices.len())].clone()
            } else {
                let prefix = self.public_prefix();
                ip_in(prefix, self.rng.gen_range(2..250))
            };
            let registered_ms = self.config.start_ms + self.rng.gen_range(0..(2 * DAY_MS));
            let email = format!(
                "{id}@{}",
                EMAIL_DOMAINS[self.rng.gen_range(0..EMAIL_DOMAINS.len())]
            );
            self.users.push(User {
                id,
                city,
                devices,
                cards,
                ip,
                email,
                registered_ms,
                seller: self.rng.gen_bool(0.1),
            });
        }
    }

    fn normal_traffic(&mut self) {
        let days = i64::from(self.config.days);
        for index in 0..self.users.len() {
            let registered = self.users[index].registered_ms;
            let mut register = self.base(&self.users[index], EventKind::Register);
            register.email = Some(self.users[index].email.clone());
            register.phone = Some(format!("+86 138{:08}", index));
            self.push(registered, register, Label::Normal);
            let mut orders = 0u32;
            for day in 0..days {
                let day_start = self.config.start_ms + day * DAY_MS;
                if day_start + DAY_MS <= registered || !self.rng.gen_bool(0.7) {
                    continue;
                }
                let mut at =
                    day_start.max(registered) + self.rng.gen_range(MINUTE_MS..(DAY_MS / 2));
                self.session(index, &mut at, &mut orders);
            }
        }
    }

    fn session(&mut self, index: usize, at: &mut i64, orders: &mut u32) {
        let travelling = self.rng.gen_bool(0.02);
        let device = {
            let devices = &self.users[index].devices;
            devices[self.rng.gen_range(0..devices.len())].clone()
        };
        let base = |generator: &mut Generator, kind: EventKind| {
            let mut event = generator.base(&generator.users[index], kind);
            event.device_id = Some(device.clone());
            if travelling {
                let city = &TRAVEL_CITIES[index % TRAVEL_CITIES.len()];
                event.country = Some(city.country.to_owned());
                event.city = Some(city.name.to_owned());
                event.latitude = Some(city.lat);
                event.longitude = Some(city.lon);
                event.ip = Some(ip_in((60, 30 + (index % 20) as u8, 7), 9));
            }
            event
        };
        if self.rng.gen_bool(0.06) {
            for _ in 0..self.rng.gen_range(1..=2) {
                let mut failed = base(self, EventKind::LoginFailed);
                failed.failure_reason = Some("bad_password".into());
                self.push(*at, failed, Label::Normal);
                *at += self.rng.gen_range(5_000..40_000);
            }
        }
        let login = base(self, EventKind::LoginSucceeded);
        self.push(*at, login, Label::Normal);
        let actions = self.rng.gen_range(1..=4);
        for _ in 0..actions {
            *at += self.rng.gen_range(20_000..(20 * MINUTE_MS));
            let roll: f64 = self.rng.gen();
            let seller = self.users[index].seller;
            if roll < 0.35 {
                let amount: f64 = (self.rng.gen_range(3.0f64..7.5)).exp().min(4_000.0);
                let merchant = format!("merchant{}", self.rng.gen_range(0..200));
                let order_id = self.id("order");
                let mut order = base(self, EventKind::OrderPlaced);
                order.order_id = Some(order_id.clone());
                order.amount = Some((amount * 100.0).round() / 100.0);
                order.currency = Some("CNY".into());
                order.counterparty_id = Some(merchant.clone());
                self.push(*at, order, Label::Normal);
                *orders += 1;
                *at += self.rng.gen_range(10_000..120_000);
                let mut payment = base(self, EventKind::Payment);
                payment.order_id = Some(order_id.clone());
                payment.amount = Some((amount * 100.0).round() / 100.0);
                payment.currency = Some("CNY".into());
                payment.counterparty_id = Some(merchant);
                payment.purpose = Some("purchase".into());
                payment.payment_method = Some("card".into());
                let cards = &self.users[index].cards;
                payment.card_fingerprint = Some(cards[self.rng.gen_range(0..cards.len())].clone());
                payment.card_bin = Some("622202".into());
                payment.success = Some(self.rng.gen_bool(0.98));
                self.push(*at, payment, Label::Normal);
                if *orders > 1 && self.rng.gen_bool(0.03) {
                    *at += self.rng.gen_range(MINUTE_MS..(60 * MINUTE_MS));
                    let mut refund = base(self, EventKind::RefundRequested);
                    refund.order_id = Some(order_id);
                    refund.amount = Some((amount * 100.0).round() / 100.0);
                    refund.currency = Some("CNY".into());
                    self.push(*at, refund, Label::Normal);
                }
            } else if roll < 0.5 {
                let mut comment = base(self, EventKind::CommentPosted);
                comment.text =
                    Some(BENIGN_COMMENTS[self.rng.gen_range(0..BENIGN_COMMENTS.len())].into());
                comment.target_id = Some(format!("listing{}", self.rng.gen_range(0..5_000)));
                self.push(*at, comment, Label::Normal);
            } else if roll < 0.62 && seller {
                for _ in 0..self.rng.gen_range(1..=3) {
                    let mut listing = base(self, EventKind::ListingPublished);
                    listing.listing_id = Some(self.id("listing"));
                    listing.title = Some("handmade ceramic mug".into());
                    listing.text = Some("glazed stoneware, 350 ml, dishwasher safe".into());
                    self.push(*at, listing, Label::Normal);
                    *at += self.rng.gen_range(30_000..300_000);
                }
            } else if roll < 0.68 && seller {
                let mut withdrawal = base(self, EventKind::Withdrawal);
                withdrawal.amount = Some(self.rng.gen_range(500.0f64..5_000.0).round());
                withdrawal.currency = Some("CNY".into());
                self.push(*at, withdrawal, Label::Normal);
            } else if roll < 0.72 && !seller {
                let mut deposit = base(self, EventKind::Payment);
                deposit.amount = Some(self.rng.gen_range(100.0f64..2_000.0).round());
                deposit.currency = Some("CNY".into());
                deposit.purpose = Some("deposit".into());
                deposit.success = Some(true);
                self.push(*at, deposit, Label::Normal);
            } else if roll < 0.725 {
                let reset = base(self, EventKind::PasswordReset);
                self.push(*at, reset, Label::Normal);
            } else if roll < 0.735 {
                let mut change = base(self, EventKind::ProfileChanged);
                change.changed_field =
                    Some(["phone", "address", "email"][self.rng.gen_range(0..3)].into());
                self.push(*at, change, Label::Normal);
            } else {
                let logout = base(self, EventKind::Logout);
                self.push(*at, logout, Label::Normal);
            }
        }
    }

    fn attack_time(&mut self) -> i64 {
        let last_day = self.config.start_ms + i64::from(self.config.days - 1) * DAY_MS;
        last_day + self.rng.gen_range(0..(DAY_MS - 3 * 60 * MINUTE_MS))
    }

    fn attacker_prefix(&mut self) -> (u8, u8, u8) {
        // Hosting and proxy ranges, apart from the consumer ranges normal users get.
        (
            self.rng.gen_range(185..=195),
            self.rng.gen(),
            self.rng.gen(),
        )
    }

    fn attacker(
        &mut self,
        kind: EventKind,
        user: &str,
        ip: &str,
        device: &str,
        city: &City,
    ) -> EventInput {
        EventInput {
            kind: Some(kind),
            user_id: Some(user.to_owned()),
            ip: Some(ip.to_owned()),
            device_id: Some(device.to_owned()),
            channel: Some(Channel::Web),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0".into()),
            country: Some(city.country.to_owned()),
            latitude: Some(city.lat),
            longitude: Some(city.lon),
            ..EventInput::default()
        }
    }

    fn attacks(&mut self) {
        for kind in AttackKind::ALL {
            for _ in 0..self.config.instances_per_attack {
                let start = self.attack_time();
                self.attack(kind, start);
            }
        }
    }

    fn victim(&mut self) -> usize {
        // An established account: registered on the first two days.
        self.rng.gen_range(0..self.users.len())
    }

    fn victim_id(&mut self) -> String {
        let victim = self.victim();
        self.users[victim].id.clone()
    }

    fn new_account(&mut self, at: i64, ip: &str, device: &str, city: &'static City) -> String {
        let user = self.id("fresh");
        let mut register = self.attacker(EventKind::Register, &user, ip, device, city);
        register.email = Some(format!(
            "{user}@{}",
            EMAIL_DOMAINS[self.rng.gen_range(0..EMAIL_DOMAINS.len())]
        ));
        self.push(at, register, Label::Normal);
        let login = self.attacker(EventKind::LoginSucceeded, &user, ip, device, city);
        self.push(at + 30_000, login, Label::Normal);
        user
    }

    fn attack(&mut self, kind: AttackKind, start: i64) {
        let city = &ATTACKER_CITIES[self.rng.gen_range(0..ATTACKER_CITIES.len())];
        let prefix = self.attacker_prefix();
        let ip = ip_in(prefix, self.rng.gen_range(2..250));
        let device = self.id("bot-");
        let label = |positive| Label::Attack { kind, positive };
        match kind {
            AttackKind::BruteForce => {
                let victim = self.victim_id();
                let mut at = start;
                for attempt in 0..15 {
                    let mut event =
                        self.attacker(EventKind::LoginFailed, &victim, &ip, &device, city);
                    event.failure_reason = Some("bad_password".into());
                    self.push(at, event, label(attempt >= 4));
                    at += self.rng.gen_range(5_000..25_000);
                }
            }
            AttackKind::CredentialStuffing => {
                let prefixes = [self.attacker_prefix(), self.attacker_prefix()];
                let mut at = start;
                for attempt in 0..80 {
                    let known = self.rng.gen_bool(0.5);
                    let account = if known {
                        self.victim_id()
                    } else {
                        format!("leaked{}", self.rng.gen::<u32>())
                    };
                    let attempt_ip = ip_in(prefixes[attempt % 2], self.rng.gen_range(2..250));
                    let attempt_device = self.id("stuffer-");
                    let succeeded = known && self.rng.gen_bool(0.1);
                    let kind = if succeeded {
                        EventKind::LoginSucceeded
                    } else {
                        EventKind::LoginFailed
                    };
                    let mut event =
                        self.attacker(kind, &account, &attempt_ip, &attempt_device, city);
                    if !succeeded {
                        event.failure_reason = Some(
                            if known {
                                "bad_password"
                            } else {
                                "unknown_user"
                            }
                            .into(),
                        );
                    }
                    self.push(at, event, label(attempt >= 24));
                    at += self.rng.gen_range(3_000..20_000);
                }
            }
            AttackKind::AccountTakeover => {
                let victim = self.victim_id();
                let mut at = start;
                let login = self.attacker(EventKind::LoginSucceeded, &victim, &ip, &device, city);
                self.push(at, login, label(false));
                at += self.rng.gen_range(MINUTE_MS..(10 * MINUTE_MS));
                let reset = self.attacker(EventKind::PasswordReset, &victim, &ip, &device, city);
                self.push(at, reset, label(true));
                at += self.rng.gen_range(MINUTE_MS..(10 * MINUTE_MS));
                let mut change =
                    self.attacker(EventKind::ProfileChanged, &victim, &ip, &device, city);
                change.changed_field = Some("payment_password".into());
                self.push(at, change, label(true));
                at += self.rng.gen_range(MINUTE_MS..(10 * MINUTE_MS));
                let mut withdrawal =
                    self.attacker(EventKind::Withdrawal, &victim, &ip, &device, city);
                withdrawal.amount = Some(self.rng.gen_range(2_000.0f64..9_000.0).round());
                withdrawal.currency = Some("CNY".into());
                self.push(at, withdrawal, label(true));
            }
            AttackKind::BulkRegistration => {
                let rotate_devices = self.rng.gen_bool(0.5);
                let mut at = start;
                for attempt in 0..25 {
                    let user = self.id("bulk");
                    let (attempt_ip, attempt_device) = if rotate_devices {
                        (ip.clone(), self.id("farm-"))
                    } else {
                        (ip_in(prefix, self.rng.gen_range(2..250)), device.clone())
                    };
                    let mut event = self.attacker(
                        EventKind::Register,
                        &user,
                        &attempt_ip,
                        &attempt_device,
                        city,
                    );
                    event.email = Some(format!(
                        "{user}@{}",
                        EMAIL_DOMAINS[attempt % EMAIL_DOMAINS.len()]
                    ));
                    event.channel = Some(Channel::Api);
                    self.push(at, event, label(attempt >= 5));
                    at += self.rng.gen_range(10_000..70_000);
                }
            }
            AttackKind::DisposableEmail => {
                let user = self.id("throwaway");
                let domain = DISPOSABLE_DOMAINS[self.rng.gen_range(0..DISPOSABLE_DOMAINS.len())];
                let mut event = self.attacker(EventKind::Register, &user, &ip, &device, city);
                event.email = Some(format!("{user}@{domain}"));
                self.push(start, event, label(true));
            }
            AttackKind::CardTesting => {
                let user = self.new_account(start, &ip, &device, city);
                let mut at = start + 2 * MINUTE_MS;
                for attempt in 0..25 {
                    let mut payment = self.attacker(EventKind::Payment, &user, &ip, &device, city);
                    payment.amount = Some(self.rng.gen_range(0.5f64..3.0).round());
                    payment.currency = Some("CNY".into());
                    payment.purpose = Some("purchase".into());
                    payment.payment_method = Some("card".into());
                    payment.card_fingerprint = Some(self.id("stolen-card-"));
                    payment.card_bin = Some(format!("4{:05}", self.rng.gen_range(0..99_999)));
                    payment.success = Some(self.rng.gen_bool(0.3));
                    self.push(at, payment, label(attempt >= 4));
                    at += self.rng.gen_range(5_000..40_000);
                }
            }
            AttackKind::HighValueFirstOrder => {
                let user = self.new_account(start, &ip, &device, city);
                let mut order = self.attacker(EventKind::OrderPlaced, &user, &ip, &device, city);
                order.order_id = Some(self.id("order"));
                order.amount = Some(self.rng.gen_range(6_000.0f64..30_000.0).round());
                order.currency = Some("CNY".into());
                order.counterparty_id = Some(format!("merchant{}", self.rng.gen_range(0..200)));
                self.push(start + 3 * MINUTE_MS, order, label(true));
            }
            AttackKind::RefundAbuse => {
                let abuser = {
                    let victim = self.victim();
                    self.users[victim].clone_identity()
                };
                let last_day = self.config.start_ms + i64::from(self.config.days - 1) * DAY_MS;
                let orders: Vec<String> = (0..6).map(|_| self.id("order")).collect();
                for (position, order_id) in orders.iter().enumerate() {
                    let at = last_day - DAY_MS * (7 - position as i64)
                        + self.rng.gen_range(0..DAY_MS / 2);
                    let mut order = self.attacker(
                        EventKind::OrderPlaced,
                        &abuser.0,
                        &abuser.1,
                        &abuser.2,
                        abuser.3,
                    );
                    order.order_id = Some(order_id.clone());
                    order.amount = Some(self.rng.gen_range(100.0f64..900.0).round());
                    order.currency = Some("CNY".into());
                    order.counterparty_id = Some(format!("merchant{}", self.rng.gen_range(0..200)));
                    self.push(at, order, label(false));
                }
                let mut at = start;
                for (position, order_id) in orders.iter().enumerate() {
                    let mut refund = self.attacker(
                        EventKind::RefundRequested,
                        &abuser.0,
                        &abuser.1,
                        &abuser.2,
                        abuser.3,
                    );
                    refund.order_id = Some(order_id.clone());
                    refund.amount = Some(300.0);
                    refund.currency = Some("CNY".into());
                    self.push(at, refund, label(position >= 3));
                    at += self.rng.gen_range(10 * MINUTE_MS..(60 * MINUTE_MS));
                }
            }
            AttackKind::RapidWithdrawal => {
                let user = self.new_account(start, &ip, &device, city);
                let deposit_amount = self.rng.gen_range(5_000.0f64..30_000.0).round();
                let mut deposit = self.attacker(EventKind::Payment, &user, &ip, &device, city);
                deposit.amount = Some(deposit_amount);
                deposit.currency = Some("CNY".into());
                deposit.purpose = Some("deposit".into());
                deposit.success = Some(true);
                self.push(start + 2 * MINUTE_MS, deposit, label(false));
                let mut withdrawal =
                    self.attacker(EventKind::Withdrawal, &user, &ip, &device, city);
                withdrawal.amount = Some((deposit_amount * self.rng.gen_range(0.85..1.0)).round());
                withdrawal.currency = Some("CNY".into());
                let withdraw_at = start + self.rng.gen_range(10..60) * MINUTE_MS;
                self.push(withdraw_at, withdrawal, label(true));
            }
            AttackKind::Structuring => {
                let account = {
                    let victim = self.victim();
                    self.users[victim].clone_identity()
                };
                let mut at = start;
                for position in 0..4 {
                    let kind = if position % 2 == 0 {
                        EventKind::Withdrawal
                    } else {
                        EventKind::Payment
                    };
                    let mut event =
                        self.attacker(kind, &account.0, &account.1, &account.2, account.3);
                    event.amount = Some(self.rng.gen_range(45_100.0f64..49_900.0).round());
                    event.currency = Some("CNY".into());
                    if kind == EventKind::Payment {
                        event.purpose = Some("purchase".into());
                        event.card_fingerprint =
                            Some(format!("card-{}-0", account.0.trim_start_matches("user")));
                    }
                    self.push(at, event, label(position >= 2));
                    at += self.rng.gen_range(30 * MINUTE_MS..(3 * 60 * MINUTE_MS));
                }
            }
        }
    }
}

impl User {
    /// The account's own identity (an insider abusing their own account).
    fn clone_identity(&self) -> (String, String, String, &'static City) {
        (
            self.id.clone(),
            self.ip.clone(),
            self.devices[0].clone(),
            self.city,
        )
    }
}

/// Generates the traffic, ordered by time.
pub fn generate(config: &SimConfig) -> Vec<LabelledEvent> {
    let mut generator = Generator {
        rng: SmallRng::seed_from_u64(config.seed),
        config: SimConfig {
            days: config.days.max(2),
            ..config.clone()
        },
        events: Vec::new(),
        users: Vec::new(),
        next_id: 0,
    };
    generator.make_users();
    generator.normal_traffic();
    generator.attacks();
    let mut events = generator.events;
    events.sort_by_key(|(at, _)| *at);
    events
        .into_iter()
        .enumerate()
        .map(|(position, (_, mut labelled))| {
            labelled.event.event_id = Some(format!("sim-{position}"));
            labelled
        })
        .collect()
}

/// Adds [`seed_list_entries`] to an engine's lists (those its policy declares).
pub fn seed_lists(engine: &Engine) -> Result<(), ListError> {
    for (list, value) in seed_list_entries() {
        if let Some(target) = engine.lists().get(list) {
            target.insert(&value, None)?;
        }
    }
    Ok(())
}

/// Decides every event with `engine`, in order, and scores the decisions. `progress` is told
/// how many events are done, every thousand.
pub fn score_in_process(
    engine: &Engine,
    events: Vec<LabelledEvent>,
    mut progress: impl FnMut(usize),
) -> Result<Scoreboard, EventError> {
    let mut scoreboard = Scoreboard::default();
    for (position, labelled) in events.into_iter().enumerate() {
        let at = labelled.event.occurred_at_ms.unwrap_or_default();
        let event = Event::try_from_input(labelled.event, at, || format!("sim-{position}"))?;
        scoreboard.record(
            labelled.label,
            &engine.decide(&event, format!("sim-decision-{position}")),
        );
        if position % 1_000 == 0 {
            progress(position);
        }
    }
    scoreboard.finish();
    Ok(scoreboard)
}

/// Detection counts for one attack kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KindScore {
    /// Events of this kind.
    pub events: usize,
    /// Events marked positive.
    pub positives: usize,
    /// Positive events not allowed.
    pub detected: usize,
    /// Events of this kind not allowed (positive or lead-in).
    pub flagged: usize,
    /// Normal events flagged by a rule that also flagged this kind.
    pub false_positives: usize,
}

impl KindScore {
    /// Share of positives detected.
    pub fn recall(&self) -> f64 {
        if self.positives == 0 {
            1.0
        } else {
            self.detected as f64 / self.positives as f64
        }
    }

    /// Share of the flags raised by this kind's rules that were on malicious events.
    pub fn precision(&self) -> f64 {
        let flags = self.flagged + self.false_positives;
        if flags == 0 {
            1.0
        } else {
            self.flagged as f64 / flags as f64
        }
    }
}

/// Turns decisions into precision and recall.
///
/// Recall of a kind: positive events of that kind that were not allowed, over all its positive
/// events. Precision of a kind: flags on that kind's events, over those plus the normal events
/// flagged by any rule that also flagged that kind. False-positive rate: normal events not
/// allowed, over all normal events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scoreboard {
    /// Per attack kind.
    pub kinds: BTreeMap<AttackKind, KindScore>,
    /// Normal events seen.
    pub normal_events: usize,
    /// Normal events not allowed.
    pub normal_flagged: usize,
    rules_by_kind: BTreeMap<AttackKind, BTreeSet<String>>,
    normal_flag_rules: Vec<Vec<String>>,
    /// Decisions per outcome.
    pub outcomes: BTreeMap<String, usize>,
}

impl Scoreboard {
    /// Adds one decision.
    pub fn record(&mut self, label: Label, decision: &Decision) {
        *self
            .outcomes
            .entry(decision.outcome.as_str().to_owned())
            .or_default() += 1;
        let flagged = decision.outcome != Outcome::Allow;
        match label {
            Label::Normal => {
                self.normal_events += 1;
                if flagged {
                    self.normal_flagged += 1;
                    self.normal_flag_rules.push(
                        decision
                            .matched
                            .iter()
                            .map(|rule| rule.rule_id.clone())
                            .collect(),
                    );
                }
            }
            Label::Attack { kind, positive } => {
                let score = self.kinds.entry(kind).or_default();
                score.events += 1;
                score.positives += usize::from(positive);
                score.detected += usize::from(positive && flagged);
                score.flagged += usize::from(flagged);
                if flagged {
                    self.rules_by_kind
                        .entry(kind)
                        .or_default()
                        .extend(decision.matched.iter().map(|rule| rule.rule_id.clone()));
                }
            }
        }
    }

    /// Fills in the false positives per kind; call once all decisions are recorded.
    pub fn finish(&mut self) {
        for (kind, score) in &mut self.kinds {
            let rules = self.rules_by_kind.get(kind).cloned().unwrap_or_default();
            score.false_positives = self
                .normal_flag_rules
                .iter()
                .filter(|matched| matched.iter().any(|rule| rules.contains(rule)))
                .count();
        }
    }

    /// False-positive rate of normal traffic.
    pub fn false_positive_rate(&self) -> f64 {
        if self.normal_events == 0 {
            0.0
        } else {
            self.normal_flagged as f64 / self.normal_events as f64
        }
    }

    /// Rules that flagged normal events, most frequent first.
    pub fn normal_flag_rules(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for matched in &self.normal_flag_rules {
            for rule in matched {
                *counts.entry(rule).or_default() += 1;
            }
        }
        let mut sorted: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(rule, count)| (rule.to_owned(), count))
            .collect();
        sorted.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        sorted
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut text = format!(
            "{:<24} {:>7} {:>9} {:>9} {:>9} {:>9}\n",
            "attack", "events", "positive", "detected", "recall", "precision"
        );
        for (kind, score) in &self.kinds {
            text.push_str(&format!(
                "{:<24} {:>7} {:>9} {:>9} {:>9.3} {:>9.3}\n",
                kind.as_str(),
                score.events,
                score.positives,
                score.detected,
                score.recall(),
                score.precision()
            ));
        }
        text.push_str(&format!(
            "{:<24} {:>7} {:>9} {:>9} {:>9}\nfalse-positive rate of normal traffic: {:.4}\n",
            "normal",
            self.normal_events,
            "-",
            self.normal_flagged,
            "-",
            self.false_positive_rate()
        ));
        text
    }
}
