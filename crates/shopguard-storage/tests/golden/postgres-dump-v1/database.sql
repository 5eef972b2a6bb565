--
-- PostgreSQL database dump
--

\restrict eBjh3TlI8DuMFYAnkSLwElUNzQ0I1mBWhPbhcclozulKGpTAzT4KGZqquFdcswq

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: sg_golden_v1; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA sg_golden_v1;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: alerts; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.alerts (
    seq bigint NOT NULL,
    created_at_ms bigint NOT NULL,
    severity text NOT NULL,
    rule_id text NOT NULL,
    decision_id text NOT NULL,
    user_id text NOT NULL,
    ip text,
    message text NOT NULL
);


--
-- Name: alerts_seq_seq; Type: SEQUENCE; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE sg_golden_v1.alerts ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME sg_golden_v1.alerts_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: api_keys; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.api_keys (
    key_id text NOT NULL,
    name text NOT NULL,
    secret_sha256 bytea NOT NULL,
    scopes text NOT NULL,
    created_at_ms bigint NOT NULL,
    revoked_at_ms bigint
);


--
-- Name: audit_log_checkpoints; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.audit_log_checkpoints (
    id bigint NOT NULL,
    size bigint NOT NULL,
    root text NOT NULL,
    at_ms bigint NOT NULL,
    key_id text NOT NULL,
    signature text NOT NULL
);


--
-- Name: audit_log_checkpoints_id_seq; Type: SEQUENCE; Schema: sg_golden_v1; Owner: -
--

CREATE SEQUENCE sg_golden_v1.audit_log_checkpoints_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: audit_log_checkpoints_id_seq; Type: SEQUENCE OWNED BY; Schema: sg_golden_v1; Owner: -
--

ALTER SEQUENCE sg_golden_v1.audit_log_checkpoints_id_seq OWNED BY sg_golden_v1.audit_log_checkpoints.id;


--
-- Name: audit_log_entries; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.audit_log_entries (
    seq bigint NOT NULL,
    at_ms bigint NOT NULL,
    class smallint NOT NULL,
    commitment bytea NOT NULL,
    salt bytea,
    content bytea,
    CONSTRAINT audit_log_entries_check CHECK (((salt IS NULL) = (content IS NULL))),
    CONSTRAINT audit_log_entries_commitment_check CHECK ((length(commitment) = 32)),
    CONSTRAINT audit_log_entries_salt_check CHECK ((length(salt) = 32)),
    CONSTRAINT audit_log_entries_seq_check CHECK ((seq >= 0))
);


--
-- Name: audit_log_head; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.audit_log_head (
    one boolean DEFAULT true NOT NULL,
    size bigint NOT NULL,
    public_key bytea,
    CONSTRAINT audit_log_head_one_check CHECK (one),
    CONSTRAINT audit_log_head_size_check CHECK ((size >= 0))
);


--
-- Name: audit_log_migrations; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.audit_log_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: audit_log_tree; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.audit_log_tree (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    CONSTRAINT audit_log_tree_hash_check CHECK ((length(hash) = 32)),
    CONSTRAINT audit_log_tree_idx_check CHECK ((idx >= 0)),
    CONSTRAINT audit_log_tree_level_check CHECK (((level >= 0) AND (level < 64)))
);


--
-- Name: audit_outbox; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.audit_outbox (
    id bigint NOT NULL,
    at_ms bigint NOT NULL,
    class text NOT NULL,
    content text NOT NULL,
    claimed_by text,
    claimed_at_ms bigint
);


--
-- Name: audit_outbox_id_seq; Type: SEQUENCE; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE sg_golden_v1.audit_outbox ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME sg_golden_v1.audit_outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: data_keys; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.data_keys (
    id bigint NOT NULL,
    wrapped bytea NOT NULL,
    master_id text NOT NULL,
    created_at_ms bigint NOT NULL
);


--
-- Name: decisions; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.decisions (
    seq bigint NOT NULL,
    decision_id text NOT NULL,
    occurred_at_ms bigint NOT NULL,
    user_id text NOT NULL,
    ip text,
    device_id text,
    outcome text NOT NULL,
    record bytea NOT NULL
);


--
-- Name: decisions_seq_seq; Type: SEQUENCE; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE sg_golden_v1.decisions ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME sg_golden_v1.decisions_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: engine_snapshots; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.engine_snapshots (
    node_id text NOT NULL,
    snapshot bytea NOT NULL,
    written_at_ms bigint NOT NULL
);


--
-- Name: grants; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.grants (
    id bigint NOT NULL,
    username text NOT NULL,
    role text NOT NULL,
    reason text NOT NULL,
    requested_by text NOT NULL,
    requested_at_ms bigint NOT NULL,
    duration_ms bigint NOT NULL,
    approved_by text,
    approved_at_ms bigint,
    expires_at_ms bigint
);


--
-- Name: grants_id_seq; Type: SEQUENCE; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE sg_golden_v1.grants ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME sg_golden_v1.grants_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: list_changes; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.list_changes (
    seq bigint NOT NULL,
    list text NOT NULL,
    value text NOT NULL,
    expires_at_ms bigint,
    removed boolean NOT NULL,
    at_ms bigint NOT NULL
);


--
-- Name: list_changes_seq_seq; Type: SEQUENCE; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE sg_golden_v1.list_changes ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME sg_golden_v1.list_changes_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: list_entries; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.list_entries (
    list text NOT NULL,
    value text NOT NULL,
    expires_at_ms bigint,
    added_by text NOT NULL,
    reason text NOT NULL,
    created_at_ms bigint NOT NULL
);


--
-- Name: lists; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.lists (
    name text NOT NULL,
    kind text NOT NULL,
    description text NOT NULL,
    created_at_ms bigint NOT NULL
);


--
-- Name: operators; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.operators (
    username text NOT NULL,
    password_hash text NOT NULL,
    totp_secret text NOT NULL,
    roles text NOT NULL,
    created_at_ms bigint NOT NULL,
    disabled_at_ms bigint
);


--
-- Name: policy_active; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.policy_active (
    id smallint NOT NULL,
    version bigint,
    activated_at_ms bigint,
    activated_by text,
    CONSTRAINT policy_active_id_check CHECK ((id = 1))
);


--
-- Name: policy_versions; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.policy_versions (
    version bigint NOT NULL,
    source text NOT NULL,
    sha256 text NOT NULL,
    author text NOT NULL,
    comment text NOT NULL,
    created_at_ms bigint NOT NULL,
    pending_approval boolean NOT NULL,
    approved_by text,
    approved_at_ms bigint
);


--
-- Name: schedule; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.schedule (
    name text NOT NULL,
    interval_ms bigint NOT NULL,
    last_run_at_ms bigint,
    next_due_at_ms bigint NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: sessions; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.sessions (
    session_id text NOT NULL,
    secret_sha256 bytea NOT NULL,
    username text NOT NULL,
    created_at_ms bigint NOT NULL,
    expires_at_ms bigint NOT NULL
);


--
-- Name: task_inputs; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.task_inputs (
    task_id text NOT NULL,
    input text NOT NULL
);


--
-- Name: tasks; Type: TABLE; Schema: sg_golden_v1; Owner: -
--

CREATE TABLE sg_golden_v1.tasks (
    id text NOT NULL,
    kind smallint NOT NULL,
    status smallint NOT NULL,
    done bigint DEFAULT 0 NOT NULL,
    total bigint DEFAULT 0 NOT NULL,
    created_at_ms bigint NOT NULL,
    started_at_ms bigint,
    finished_at_ms bigint,
    requested_by text NOT NULL,
    parameters text NOT NULL,
    result text,
    error text,
    cancel_requested boolean DEFAULT false NOT NULL,
    claimed_by text,
    lease_until_ms bigint
);


--
-- Name: audit_log_checkpoints id; Type: DEFAULT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.audit_log_checkpoints ALTER COLUMN id SET DEFAULT nextval('sg_golden_v1.audit_log_checkpoints_id_seq'::regclass);


--
-- Data for Name: alerts; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.alerts OVERRIDING SYSTEM VALUE VALUES
	(1, 1796000003000, 'high', 'big', 'decision-3', 'user-3', '192.0.2.3', 'large payment'),
	(2, 1796000004000, 'high', 'big', 'decision-4', 'user-4', '192.0.2.4', 'large payment');


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.api_keys VALUES
	('02bce67665f56c0d', 'checkout', '\x6201b9c1b246d3588e4ea3753c7e4211324caaeab3983c2805eb4ecbb65b9592', 'events:write', 1796000000000, NULL);


--
-- Data for Name: audit_log_checkpoints; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.audit_log_checkpoints VALUES
	(1, 15, 'c680cd5c58c8da6485dae359fc5dd4c631f290ef71214f471ac7963c0e7211ba', 1796000000010, '10ba682c8ad13513', 'a9f26b5b456798252d3e768c7b55177c572cd094df3badd67e271645ebcc5c2fcb22c15f1a8c589ba57dbe58478c4832e3568e87727784a3f2482ebd4c1ed308');


--
-- Data for Name: audit_log_entries; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.audit_log_entries VALUES
	(0, 1796000000000, 2, '\x06eb5c9c73614589842c8b4b2f7be4e6be2ac7f90725b07480cdee024ec1b6bc', '\x679c5105366b5c2ce6e7c09e85554cfa6f0aaa6431f57b9ee3fb576c9d615e45', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226b65792e637265617465222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(1, 1796000000000, 2, '\xe364d0e75c57fb877061566c038df541d11c5877dfffa65a6b8712447aa313ab', '\x481e131472a80a1e688d5c17c9a2176dd4df88cacc571bfb40fea6bc6ae3573f', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a22706f6c6963792e73746f7265222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(2, 1796000000000, 2, '\x06ae441081c3debafe7e50e11cd18756c425c71b2cbbe3443ed2f5f0892a99e4', '\x9cd97d8ee4289d63e5586c8f81f5c228c46df6554820c1b42f34867e33449c10', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a22706f6c6963792e73746f7265222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(3, 1796000000000, 2, '\x4b7326b515636bcf423abb6dfad8345107d3eeb806b4c2ebc93d6184fb94c2c7', '\x5b369708bc960c76028ae575e22993cb5513317e338a40a0385e4e35331a30f1', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a22706f6c6963792e6163746976617465222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(4, 1796000000000, 2, '\x99e799bb25e2cf3cf98a1210b3ead6e2e7ea83176ff2f635cc9f8697df155ddd', '\x1497af764ba802d69beedb456656fc8402adca0c517f7e0bd908ab70ffcbe60e', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226c6973742e637265617465222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(5, 1796000000000, 2, '\xa1d2ce741743413d85643cb419252e3841feb8f6d2522c5ad3448953ff440d71', '\x84da4d9769cfd952ace2f2b4284726972445893a470ff4dd1e7b5003ad4c6325', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226c6973742e637265617465222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(6, 1796000000000, 2, '\x6208894cbfaacf3184845c0d1708233b0a7cf2e7ba0dafdd7a69ef88d0f483ac', '\xc47c20212d31d3f69fedbcda79d58ac72b923ef105ec688551abcb4231759590', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226c6973742e616464222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(7, 1796000000000, 2, '\x9abc366233bc2267a37763386499cd9e23521ce8fd404b85cec8636ee53c8d5a', '\xbfd667d183a220edf0f1e34318aa4858338e3e1aed8a6de11162d6bdf8aa26da', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226c6973742e616464222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(8, 1796000000000, 2, '\xe7c7575788730a18ff14a3c905542920a79998bffb27d64b9183a4d515681066', '\x367560ddd2cb25a937e70597ddc3f6cd5e0c5c942777c33bc5b56d5b5b97bcb7', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a22646174615f6b65792e726f74617465222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(9, 1796000000000, 2, '\xb8a9a85130b4b47730327b99d69d023e7374a2d9705de9bbde5201f2079a1509', '\x17cd611955a159ce36b3bc539f3374fc14e877ccb2915bf0f607eef05e389bee', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226f70657261746f722e637265617465222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(10, 1796000000000, 2, '\xb30e0adf2aa27a584b9650ffaabcb2cc7a07793d26f603113aaee4c7e09fb921', '\x24a1fee6da1520fb5750614f9042ea00a125e08f3e730d284741d1f2167f83e6', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226f70657261746f722e6c6f67696e222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(11, 1796000000000, 2, '\xf894b8f4733f9dfdd26d952439119cb7386f6ca3ce1ce6eebc0e985c59fdfab3', '\x54f2c918661b763ffd01dc65300068a7c7f4d0508f040772e1060df9a22ffdd6', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226772616e742e72657175657374222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(12, 1796000000000, 2, '\x4c5c4d4c8cf70eb19ccbcf3434f14c253a188b3fd68b9e952ff66a8ef3c731dc', '\xfe5c5d86e56940ffc7e1f07eefdd89b298b3ec3e5e31bc13c8a91f588265f339', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a226772616e742e617070726f7665222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(13, 1796000000000, 2, '\xb453784448d817de3c8ce865b35f09b6b8c165eabe75a76fea483d20359e57a3', '\xf8c050a5fc2996b91a8ff2abfb8b030b76dc39acc2cc714c5c2f9ce7c2ecf87e', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a227461736b2e7375626d6974222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d'),
	(14, 1796000000000, 2, '\x26b0327211b8b1994eccbbee3601670bd663c4bdddd726a8973c8b06cb585efd', '\x25d9a1feab1d9a8731eeae02ad1691da7abc28feae0beae5e0a687f64547c783', '\x7b226163746f72223a226f70657261746f723a616e61222c22616374696f6e223a227461736b2e7375626d6974222c226f626a656374223a22676f6c64656e222c2264657461696c223a7b22676f6c64656e223a747275657d7d');


--
-- Data for Name: audit_log_head; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.audit_log_head VALUES
	(true, 15, '\xd04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737');


--
-- Data for Name: audit_log_migrations; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.audit_log_migrations VALUES
	(1, 'audit_log', '2026-12-03 13:01:16.342905+00');


--
-- Data for Name: audit_log_tree; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.audit_log_tree VALUES
	(0, 0, '\xf5e9515cb4ed86706b41ebe89980ffc1462f8549cb1281c5a00c71c700724f2b'),
	(0, 1, '\x0a700e113d54be54d160fa7dd5eed46cc166c98ea9a197da202a36152de607ca'),
	(1, 0, '\x1f1b284824c7f1549c7a756e9489a5706cffd66b390fb2af3cfe366c90d67ff5'),
	(0, 2, '\xd11a77b342c4bdbc387a50972adf6eb6f017d8cdc7d659f136087acf5ed12ae3'),
	(0, 3, '\x750b4d83daefcbe00bd40fae005b806ddaa1dee4d33aadb21d32412b7a30d7c3'),
	(1, 1, '\x70b629dee306cf08c4f8e473db2e7323ff44e69600e94582cf0d72124406e449'),
	(2, 0, '\x331cfccc8d8ced04dbda2b4c1a1940406621fcfdc8f488123a389705f49bb8c3'),
	(0, 4, '\x329e2c20a824ac0665d2866ca9924c2810d5386d02d6740bcdf8ade540e2ab94'),
	(0, 5, '\xaea757f3f40c1ebebc338f8b90482aee3660246a28a5844ec9e7ba691da8394d'),
	(1, 2, '\x515dc4386f667c5345ca109ca524caf57f59c3b3ed8659b3e2a9080b530c8cfb'),
	(0, 6, '\xb6e854871d6d9841eadd5f5be3905cb91d1be8a61a6f9c16cba8d8ddd38bf79e'),
	(0, 7, '\x5a3d160c747b8976361ec31821b117b105a0886a68ab7eff3654949e70c6e784'),
	(1, 3, '\x2dcb1fd94be83cddb8e9a36f2211fb6586528c86bcba07eae87d1952f65f3874'),
	(2, 1, '\xf4b5492c5af665b649f4e56da49f78331d8e6e96a6b786b044b88e77ff1c71e5'),
	(3, 0, '\xc39a8881214732b93cbdfa234ef14fbda4f87d49a40f4f207dfb4d8450531994'),
	(0, 8, '\x6ec2a93715b2b958670507a312ec7f8434658bfac42e59df0094cf1d86a73b0d'),
	(0, 9, '\x51ae55eb3acfbff2aed99eddbc28799577f05a07980dbb2c25807f15103d9cf7'),
	(1, 4, '\xb1ceb38d16ac09f0f73fb60b71a110832607258d60b58b66316a1079352364ff'),
	(0, 10, '\x1d1d2bed27362bf04d53a7adb76743049953c8ff8fa155dc01911389232996c6'),
	(0, 11, '\x751b089b98fa4ce9ebe0b4baaf9137d6af9cf51dde63bbcaf92fe561881ef7d5'),
	(1, 5, '\x554fa28252431e66ac255dc27d30333806d7c5c09e38342fd9f6a47e6865d6f4'),
	(2, 2, '\x1eb8db1ec9761e1b874250cf402e4c735823c8bf9d71f24f2199e514243057a9'),
	(0, 12, '\x024c35fcbd28b2af71786766aa9f1de6f967068df1da1963de532b9505cd2eb8'),
	(0, 13, '\x08980527d68a7b81cbc2ea99c73c10c1f68e63d2b3b9e70bd6e20cbcebddd75f'),
	(1, 6, '\xd535c02a9c721b6a333b755c964d8a44112c87bb1a9b1b527c49ac04a33d260a'),
	(0, 14, '\x889511308250f93b9918176ead70d713e551ecf9ccf491a75bb21bfe4ec86e42');


--
-- Data for Name: audit_outbox; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.audit_outbox OVERRIDING SYSTEM VALUE VALUES
	(16, 1796000000000, 'configuration', '{"actor":"operator:ana","action":"task.finish","object":"golden","detail":{"golden":true}}', 'd402cf9be4a6a931d1072101', 1796302876444);


--
-- Data for Name: data_keys; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.data_keys VALUES
	(1, '\xa0a7bf890a579af8d7535fc22b3316fa693095707a8e76abf6f12d7c60fca50dd8f3fc1cb041bddb8eeda85c78c8306d0d86538d9194404d5da21039', '770080b0f6b16527', 0),
	(2, '\x9a5990d20ca57a27032641ffedbadb3aed547171cb92ab884f1d03e44976a0d482ca76114f8b7d87214daf1cf93d7496fd40681d1fa0dc320c54e2bf', '770080b0f6b16527', 1796000000000);


--
-- Data for Name: decisions; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.decisions OVERRIDING SYSTEM VALUE VALUES
	(1, 'decision-1', 1796000001000, 'user-1', '192.0.2.1', NULL, 'allow', '\xb10a6465636973696f6e2d31000000010100000000076576656e742d310ad0af899fc56806757365722d31048881c00245656e63312e322e4f47505a774456636d747a385f6368425847464c34694f5f385771367631766b5f744834666530665837556e6e473832364d74546f53735635437771627703434e5904c0000201000000000000494000'),
	(2, 'decision-2', 1796000002000, 'user-2', '192.0.2.2', NULL, 'allow', '\xb10a6465636973696f6e2d32000000010100000000076576656e742d320aa0bf899fc56806757365722d32048881c00245656e63312e322e5176684d79464963795862625164435342786f77306c454f307a302d4b53716858346a4a424d45476552344e6f78612d7a45566437736335745172477a7703434e5904c0000202000000000000594000'),
	(3, 'decision-3', 1796000003000, 'user-3', '192.0.2.3', NULL, 'review', '\xb10a6465636973696f6e2d33020000010101036269670d6c61726765207061796d656e7402000000004e5b7b2274797065223a22616c657274222c227365766572697479223a2268696768222c2272756c655f6964223a22626967222c226d657373616765223a226c61726765207061796d656e74227d5d076576656e742d330af0ce899fc56806757365722d33048881c00245656e63312e322e7367576e47554c6a376f72335130396c33616f456c5874782d724d6e6d5864766977496f693554644378696b73625a446c77644c5a54354672686a4b485103434e5904c00002030000000000c0624000'),
	(4, 'decision-4', 1796000004000, 'user-4', '192.0.2.4', NULL, 'review', '\xb10a6465636973696f6e2d34020000010101036269670d6c61726765207061796d656e7402000000004e5b7b2274797065223a22616c657274222c227365766572697479223a2268696768222c2272756c655f6964223a22626967222c226d657373616765223a226c61726765207061796d656e74227d5d076576656e742d340ac0de899fc56806757365722d34048881c00245656e63312e322e713850317143445449566937615f74704a384e4753702d653932585a305263656b2d6a6d453750495662486c734d434930697767733543436b773443684103434e5904c0000204000000000000694000');


--
-- Data for Name: engine_snapshots; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.engine_snapshots VALUES
	('node-a', '\x5347534e4150303220676f6c64656e', 1796302876267);


--
-- Data for Name: grants; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.grants OVERRIDING SYSTEM VALUE VALUES
	(1, 'ana', 'responder', 'incident 7', 'operator:ana', 1796000000000, 3600000, 'operator:bo', 1796000000001, 1796003600001);


--
-- Data for Name: list_changes; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.list_changes OVERRIDING SYSTEM VALUE VALUES
	(1, 'ip_block', '192.0.2.9', NULL, false, 1796000000000),
	(2, 'ip_block', '198.51.100.7', 1796086400000, false, 1796000000000),
	(3, 'user_watch', 'mallory', NULL, false, 1796000000000);


--
-- Data for Name: list_entries; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.list_entries VALUES
	('ip_block', '192.0.2.9', NULL, 'operator:ana', 'golden''s ''quoted'' reason', 1796000000000),
	('ip_block', '198.51.100.7', 1796086400000, 'operator:ana', 'golden''s ''quoted'' reason', 1796000000000),
	('user_watch', 'mallory', NULL, 'operator:ana', 'golden''s ''quoted'' reason', 1796000000000);


--
-- Data for Name: lists; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.lists VALUES
	('ip_block', 'ip', 'ip_block, golden', 1796000000000),
	('user_watch', 'user', 'user_watch, golden', 1796000000000);


--
-- Data for Name: operators; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.operators VALUES
	('ana', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 'enc1.2.vLQH0q6PhUewozQlb4x6GqCErLBo8MyIrFMrN5-1-pZMwqWu_OHKdmgxQgn6X-NJki0ybXBLQdIVxlkAZAE_RZ8fza0', 'analyst,approver', 1796000000000, NULL);


--
-- Data for Name: policy_active; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.policy_active VALUES
	(1, 1, 1796000000000, 'operator:ana');


--
-- Data for Name: policy_versions; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.policy_versions VALUES
	(1, '
[policy]
name = "golden"
[[rules]]
id = "big"
when = "event.kind == ''payment'' && event.amount > 100.0"
outcome = "review"
reason = "large payment"
actions = [{ alert = "high" }]
', '63f65df0ffb3d12d9a7e371ea7e1ce58ff55ce6ad5ba8542d792ddb4c78c803b', 'operator:ana', 'golden', 1796000000000, false, NULL, NULL),
	(2, '[policy]
name = "second"
', 'd21f5fe5741096779d987d8bb335185099fb63291dc7084f817ad5cf60a9615b', 'operator:ana', 'golden', 1796000000000, true, NULL, NULL);


--
-- Data for Name: schedule; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.schedule VALUES
	('retention', 3600000, 1796000000000, 1796003600000);


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.schema_migrations VALUES
	(1, 'init', '2026-12-03 13:01:15.109613+00'),
	(2, 'list_changes', '2026-12-03 13:01:15.109613+00'),
	(3, 'outbox_claims', '2026-12-03 13:01:15.109613+00'),
	(4, 'tasks', '2026-12-03 13:01:15.109613+00');


--
-- Data for Name: sessions; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.sessions VALUES
	('session-1', '\x0909090909090909090909090909090909090909090909090909090909090909', 'ana', 1796000000000, 1796003600000);


--
-- Data for Name: task_inputs; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.task_inputs VALUES
	('task-queued', '192.0.2.1
192.0.2.2');


--
-- Data for Name: tasks; Type: TABLE DATA; Schema: sg_golden_v1; Owner: -
--

INSERT INTO sg_golden_v1.tasks VALUES
	('task-queued', 2, 1, 0, 0, 1796000000001, NULL, NULL, 'operator:ana', '{"file":"task-queued.txt","lines":2,"list":"ip_block"}', NULL, NULL, false, NULL, NULL),
	('task-done', 2, 3, 0, 0, 1796000000000, 1796000000002, 1796000000003, 'operator:ana', '{"file":"task-done.txt","lines":2,"list":"ip_block"}', '{"added":2}', NULL, false, 'node-a', NULL);


--
-- Name: alerts_seq_seq; Type: SEQUENCE SET; Schema: sg_golden_v1; Owner: -
--

SELECT pg_catalog.setval('sg_golden_v1.alerts_seq_seq', 2, true);


--
-- Name: audit_log_checkpoints_id_seq; Type: SEQUENCE SET; Schema: sg_golden_v1; Owner: -
--

SELECT pg_catalog.setval('sg_golden_v1.audit_log_checkpoints_id_seq', 1, true);


--
-- Name: audit_outbox_id_seq; Type: SEQUENCE SET; Schema: sg_golden_v1; Owner: -
--

SELECT pg_catalog.setval('sg_golden_v1.audit_outbox_id_seq', 16, true);


--
-- Name: decisions_seq_seq; Type: SEQUENCE SET; Schema: sg_golden_v1; Owner: -
--

SELECT pg_catalog.setval('sg_golden_v1.decisions_seq_seq', 4, true);


--
-- Name: grants_id_seq; Type: SEQUENCE SET; Schema: sg_golden_v1; Owner: -
--

SELECT pg_catalog.setval('sg_golden_v1.grants_id_seq', 1, true);


--
-- Name: list_changes_seq_seq; Type: SEQUENCE SET; Schema: sg_golden_v1; Owner: -
--

SELECT pg_catalog.setval('sg_golden_v1.list_changes_seq_seq', 3, true);


--
-- Name: alerts alerts_decision_id_rule_id_key; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.alerts
    ADD CONSTRAINT alerts_decision_id_rule_id_key UNIQUE (decision_id, rule_id);


--
-- Name: alerts alerts_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.alerts
    ADD CONSTRAINT alerts_pkey PRIMARY KEY (seq);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (key_id);


--
-- Name: audit_log_checkpoints audit_log_checkpoints_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.audit_log_checkpoints
    ADD CONSTRAINT audit_log_checkpoints_pkey PRIMARY KEY (id);


--
-- Name: audit_log_entries audit_log_entries_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.audit_log_entries
    ADD CONSTRAINT audit_log_entries_pkey PRIMARY KEY (seq);


--
-- Name: audit_log_head audit_log_head_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.audit_log_head
    ADD CONSTRAINT audit_log_head_pkey PRIMARY KEY (one);


--
-- Name: audit_log_migrations audit_log_migrations_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.audit_log_migrations
    ADD CONSTRAINT audit_log_migrations_pkey PRIMARY KEY (version);


--
-- Name: audit_log_tree audit_log_tree_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.audit_log_tree
    ADD CONSTRAINT audit_log_tree_pkey PRIMARY KEY (level, idx);


--
-- Name: audit_outbox audit_outbox_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.audit_outbox
    ADD CONSTRAINT audit_outbox_pkey PRIMARY KEY (id);


--
-- Name: data_keys data_keys_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.data_keys
    ADD CONSTRAINT data_keys_pkey PRIMARY KEY (id);


--
-- Name: decisions decisions_decision_id_key; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.decisions
    ADD CONSTRAINT decisions_decision_id_key UNIQUE (decision_id);


--
-- Name: decisions decisions_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.decisions
    ADD CONSTRAINT decisions_pkey PRIMARY KEY (seq);


--
-- Name: engine_snapshots engine_snapshots_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.engine_snapshots
    ADD CONSTRAINT engine_snapshots_pkey PRIMARY KEY (node_id);


--
-- Name: grants grants_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.grants
    ADD CONSTRAINT grants_pkey PRIMARY KEY (id);


--
-- Name: list_changes list_changes_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.list_changes
    ADD CONSTRAINT list_changes_pkey PRIMARY KEY (seq);


--
-- Name: list_entries list_entries_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.list_entries
    ADD CONSTRAINT list_entries_pkey PRIMARY KEY (list, value);


--
-- Name: lists lists_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.lists
    ADD CONSTRAINT lists_pkey PRIMARY KEY (name);


--
-- Name: operators operators_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.operators
    ADD CONSTRAINT operators_pkey PRIMARY KEY (username);


--
-- Name: policy_active policy_active_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.policy_active
    ADD CONSTRAINT policy_active_pkey PRIMARY KEY (id);


--
-- Name: policy_versions policy_versions_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.policy_versions
    ADD CONSTRAINT policy_versions_pkey PRIMARY KEY (version);


--
-- Name: schedule schedule_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.schedule
    ADD CONSTRAINT schedule_pkey PRIMARY KEY (name);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: sessions sessions_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (session_id);


--
-- Name: task_inputs task_inputs_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.task_inputs
    ADD CONSTRAINT task_inputs_pkey PRIMARY KEY (task_id);


--
-- Name: tasks tasks_pkey; Type: CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.tasks
    ADD CONSTRAINT tasks_pkey PRIMARY KEY (id);


--
-- Name: alerts_by_time; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX alerts_by_time ON sg_golden_v1.alerts USING btree (created_at_ms);


--
-- Name: audit_log_entries_unpurged; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX audit_log_entries_unpurged ON sg_golden_v1.audit_log_entries USING btree (class, at_ms) WHERE (content IS NOT NULL);


--
-- Name: decisions_by_device; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX decisions_by_device ON sg_golden_v1.decisions USING btree (device_id, occurred_at_ms) WHERE (device_id IS NOT NULL);


--
-- Name: decisions_by_ip; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX decisions_by_ip ON sg_golden_v1.decisions USING btree (ip, occurred_at_ms) WHERE (ip IS NOT NULL);


--
-- Name: decisions_by_time; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX decisions_by_time ON sg_golden_v1.decisions USING brin (occurred_at_ms);


--
-- Name: decisions_by_user; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX decisions_by_user ON sg_golden_v1.decisions USING btree (user_id, occurred_at_ms);


--
-- Name: grants_by_user; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX grants_by_user ON sg_golden_v1.grants USING btree (username, id);


--
-- Name: list_changes_at; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX list_changes_at ON sg_golden_v1.list_changes USING btree (at_ms);


--
-- Name: list_entries_by_expiry; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX list_entries_by_expiry ON sg_golden_v1.list_entries USING btree (expires_at_ms) WHERE (expires_at_ms IS NOT NULL);


--
-- Name: tasks_by_creation; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX tasks_by_creation ON sg_golden_v1.tasks USING btree (created_at_ms);


--
-- Name: tasks_unfinished; Type: INDEX; Schema: sg_golden_v1; Owner: -
--

CREATE INDEX tasks_unfinished ON sg_golden_v1.tasks USING btree (created_at_ms, id) WHERE (status = ANY (ARRAY[1, 2]));


--
-- Name: grants grants_username_fkey; Type: FK CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.grants
    ADD CONSTRAINT grants_username_fkey FOREIGN KEY (username) REFERENCES sg_golden_v1.operators(username);


--
-- Name: list_entries list_entries_list_fkey; Type: FK CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.list_entries
    ADD CONSTRAINT list_entries_list_fkey FOREIGN KEY (list) REFERENCES sg_golden_v1.lists(name);


--
-- Name: policy_active policy_active_version_fkey; Type: FK CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.policy_active
    ADD CONSTRAINT policy_active_version_fkey FOREIGN KEY (version) REFERENCES sg_golden_v1.policy_versions(version);


--
-- Name: sessions sessions_username_fkey; Type: FK CONSTRAINT; Schema: sg_golden_v1; Owner: -
--

ALTER TABLE ONLY sg_golden_v1.sessions
    ADD CONSTRAINT sessions_username_fkey FOREIGN KEY (username) REFERENCES sg_golden_v1.operators(username);


--
-- PostgreSQL database dump complete
--

\unrestrict eBjh3TlI8DuMFYAnkSLwElUNzQ0I1mBWhPbhcclozulKGpTAzT4KGZqquFdcswq

