//! The compiler: CEL syntax tree in, a tree of typed closures out.
//!
//! Every sub-expression compiles to a `Node` whose variant is its static type. Operators pick
//! the closure for the operand types at compile time (`int < double` becomes one float
//! comparison); an operand of unknown type (`dyn`: attributes, comprehension variables) sends
//! the operator down the dynamic path over [`Value`]. Type errors that CEL's checker would
//! report (`'a' + 1`, `event.amount + 1`) are compile errors with a line and column.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;
use std::sync::Arc;

use cel::common::ast::operators;
use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SelectExpr, SourceInfo,
};

use crate::event::EventKind;
use crate::profile::PROFILE_FIELDS;

use super::convert::conversion;
use super::functions;
use super::schema::{event_field, find_field, Activation, Environment, FieldReader};
use super::time::Timestamp;
use super::value::{build_map, map_get, ArithOp, EvalError, EvalResult, Value};

/// Longest rule expression accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 8 * 1024;
/// Deepest expression tree accepted. The compiler and the compiled closures recurse along the
/// tree, so a bound keeps a hostile rule (`1 + 1 + ... + 1`) from overflowing the stack.
pub const MAX_EXPRESSION_DEPTH: usize = 128;

/// Depth of an expression tree, measured without recursion.
fn tree_depth(root: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(root, 1usize)];
    while let Some((expr, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        let next = depth + 1;
        match &expr.expr {
            Expr::Call(call) => {
                pending.extend(call.target.iter().map(|target| (target.as_ref(), next)));
                pending.extend(call.args.iter().map(|arg| (arg, next)));
            }
            Expr::Select(select) => pending.push((&select.operand, next)),
            Expr::List(list) => pending.extend(list.elements.iter().map(|element| (element, next))),
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(map_entry) = &entry.expr {
                        pending.push((&map_entry.key, next));
                        pending.push((&map_entry.value, next));
                    }
                }
            }
            Expr::Struct(structure) => {
                for entry in &structure.entries {
                    if let EntryExpr::StructField(field) = &entry.expr {
                        pending.push((&field.value, next));
                    }
                }
            }
            Expr::Comprehension(comprehension) => {
                for part in [
                    &comprehension.iter_range,
                    &comprehension.accu_init,
                    &comprehension.loop_cond,
                    &comprehension.loop_step,
                    &comprehension.result,
                ] {
                    pending.push((part, next));
                }
            }
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    deepest
}

type Fun<T> = Box<dyn Fn(&Activation<'_>) -> EvalResult<T> + Send + Sync>;
type StrFun = Box<dyn for<'a> Fn(&'a Activation<'a>) -> EvalResult<Cow<'a, str>> + Send + Sync>;

/// A compiled sub-expression, by static type.
enum Node {
    Bool(Fun<bool>),
    Int(Fun<i64>),
    UInt(Fun<u64>),
    Double(Fun<f64>),
    Str(StrFun),
    Dyn(Fun<Value>),
}

impl Node {
    fn type_name(&self) -> &'static str {
        match self {
            Node::Bool(_) => "bool",
            Node::Int(_) => "int",
            Node::UInt(_) => "uint",
            Node::Double(_) => "double",
            Node::Str(_) => "string",
            Node::Dyn(_) => "dyn",
        }
    }

    fn into_dyn(self) -> Fun<Value> {
        match self {
            Node::Bool(f) => Box::new(move |act| f(act).map(Value::Bool)),
            Node::Int(f) => Box::new(move |act| f(act).map(Value::Int)),
            Node::UInt(f) => Box::new(move |act| f(act).map(Value::UInt)),
            Node::Double(f) => Box::new(move |act| f(act).map(Value::Double)),
            Node::Str(f) => {
                Box::new(move |act| f(act).map(|text| Value::String(Arc::from(text.as_ref()))))
            }
            Node::Dyn(f) => f,
        }
    }
}

/// A rule expression that compiled to a boolean.
pub struct CompiledExpr {
    root: Fun<bool>,
    local_slots: usize,
    source: String,
    kinds: Option<Vec<EventKind>>,
    features_read: Vec<usize>,
}

impl std::fmt::Debug for CompiledExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledExpr")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl CompiledExpr {
    /// Evaluates the expression. An error means "does not match"; callers count it.
    pub fn eval(&self, activation: &Activation<'_>) -> EvalResult<bool> {
        activation.reserve_locals(self.local_slots);
        (self.root)(activation)
    }

    /// The source text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The event kinds this expression can be true for, when a top-level conjunct pins
    /// `event.kind` (`event.kind == 'payment' && ...`); `None` when any kind may match.
    pub fn kinds(&self) -> Option<&[EventKind]> {
        self.kinds.as_deref()
    }

    /// The features (indices into the environment's declarations) the expression may read,
    /// each once, in the order they first appear.
    pub fn features_read(&self) -> &[usize] {
        &self.features_read
    }
}

fn is_event_kind(expr: &IdedExpr) -> bool {
    matches!(&expr.expr, Expr::Select(select) if !select.test && select.field == "kind" && is_record(&select.operand, "event"))
}

/// The kinds an expression restricts `event.kind` to, read from `==`, `in`, `&&` and `||`.
fn kind_constraint(expr: &IdedExpr) -> Option<Vec<EventKind>> {
    let Expr::Call(call) = &expr.expr else {
        return None;
    };
    match call.func_name.as_str() {
        operators::LOGICAL_AND => match (
            kind_constraint(&call.args[0]),
            kind_constraint(&call.args[1]),
        ) {
            (Some(left), Some(right)) => Some(
                left.into_iter()
                    .filter(|kind| right.contains(kind))
                    .collect(),
            ),
            (Some(only), None) | (None, Some(only)) => Some(only),
            (None, None) => None,
        },
        operators::LOGICAL_OR => {
            let mut left = kind_constraint(&call.args[0])?;
            for kind in kind_constraint(&call.args[1])? {
                if !left.contains(&kind) {
                    left.push(kind);
                }
            }
            Some(left)
        }
        operators::EQUALS => {
            let literal = if is_event_kind(&call.args[0]) {
                literal_str(&call.args[1])
            } else if is_event_kind(&call.args[1]) {
                literal_str(&call.args[0])
            } else {
                None
            }?;
            Some(vec![literal.parse().ok()?])
        }
        operators::IN if is_event_kind(&call.args[0]) => match constant_value(&call.args[1])? {
            Value::List(items) => items
                .iter()
                .map(|item| item.as_str().ok()?.parse().ok())
                .collect(),
            _ => None,
        },
        _ => None,
    }
}

/// Refuses `event.kind` compared with a name that is no event kind (a typo would silently
/// never match).
fn check_kind_literals(expr: &IdedExpr, compiler: &Compiler<'_>) -> Result<(), CompileError> {
    if let Expr::Call(call) = &expr.expr {
        let name = call.func_name.as_str();
        let mut literals = Vec::new();
        if name == operators::EQUALS || name == operators::NOT_EQUALS {
            if is_event_kind(&call.args[0]) {
                literals.extend(literal_str(&call.args[1]).map(|text| (call.args[1].id, text)));
            } else if is_event_kind(&call.args[1]) {
                literals.extend(literal_str(&call.args[0]).map(|text| (call.args[0].id, text)));
            }
        }
        if name == operators::IN && is_event_kind(&call.args[0]) {
            if let Expr::List(list) = &call.args[1].expr {
                literals.extend(
                    list.elements
                        .iter()
                        .filter_map(|element| literal_str(element).map(|text| (element.id, text))),
                );
            }
        }
        for (id, literal) in literals {
            if literal.parse::<EventKind>().is_err() {
                return Err(compiler.error(id, format!("'{literal}' is not an event kind")));
            }
        }
        for argument in call
            .target
            .iter()
            .map(|target| target.as_ref())
            .chain(call.args.iter())
        {
            check_kind_literals(argument, compiler)?;
        }
    }
    Ok(())
}

/// Why an expression did not compile, with its position (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct CompileError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, lowercase.
    pub message: String,
}

/// An expression compiled to a value of any type (for tools and the conformance suite;
/// rules use [`compile_bool`]).
pub struct CompiledValue {
    root: Fun<Value>,
    local_slots: usize,
}

impl std::fmt::Debug for CompiledValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledValue").finish_non_exhaustive()
    }
}

impl CompiledValue {
    /// Evaluates the expression to a value.
    pub fn eval(&self, activation: &Activation<'_>) -> EvalResult<Value> {
        activation.reserve_locals(self.local_slots);
        (self.root)(activation)
    }
}

/// Parses, type-checks and compiles `source` to an expression of any type.
pub fn compile_value(source: &str, env: Environment<'_>) -> Result<CompiledValue, CompileError> {
    let parsed = parse_expr(source)?;
    let mut compiler = Compiler::new(env, &parsed.source, &parsed.info);
    let node = compiler.compile(&parsed.ast)?;
    Ok(CompiledValue {
        root: node.into_dyn(),
        local_slots: compiler.local_slots,
    })
}

/// An expression parsed and within the size and depth limits, not yet checked against an
/// environment: what [`compile_parsed_bool`] binds to a policy's features and lists. Parsing
/// (the `cel` crate's ANTLR parser) is most of the cost of compiling an expression; the
/// binding that follows is cheap, so a parsed expression is kept and bound again rather than
/// parsed again (decision 0038).
pub struct ParsedExpr {
    source: String,
    info: SourceInfo,
    ast: IdedExpr,
}

impl std::fmt::Debug for ParsedExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedExpr")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ParsedExpr {
    /// The source text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Checks the size and depth limits and parses `source`; the errors are those
/// [`compile_bool`] reports for a malformed expression, positions included.
pub fn parse_expr(source: &str) -> Result<ParsedExpr, CompileError> {
    let (info, ast) = parse(source)?;
    Ok(ParsedExpr {
        source: source.to_owned(),
        info,
        ast,
    })
}

/// Checks the size and depth limits and parses `source`.
fn parse(source: &str) -> Result<(SourceInfo, IdedExpr), CompileError> {
    if source.len() > MAX_EXPRESSION_LEN {
        return Err(CompileError {
            line: 1,
            column: 1,
            message: format!("expression is longer than {MAX_EXPRESSION_LEN} bytes"),
        });
    }
    if source.trim().is_empty() {
        return Err(CompileError {
            line: 1,
            column: 1,
            message: "expression is empty".into(),
        });
    }
    let (ast, info) = cel::parser::Parser::new()
        .enable_ident_escape_syntax(true)
        .parse_with_source_info(source)
        .map_err(|errors| {
            let first = errors.errors.first();
            CompileError {
                line: first.map_or(1, |e| e.pos.0.max(1) as usize),
                column: first.map_or(1, |e| e.pos.1.max(0) as usize + 1),
                message: first.map_or_else(|| "syntax error".into(), |e| e.msg.clone()),
            }
        })?;
    if tree_depth(&ast) > MAX_EXPRESSION_DEPTH {
        return Err(CompileError {
            line: 1,
            column: 1,
            message: format!("expression nests deeper than {MAX_EXPRESSION_DEPTH} levels; split it into several rules or use `in` with a list"),
        });
    }
    Ok((info, ast))
}

/// Parses, type-checks and compiles `source`, which must evaluate to a `bool`.
pub fn compile_bool(source: &str, env: Environment<'_>) -> Result<CompiledExpr, CompileError> {
    compile_parsed_bool(&parse_expr(source)?, env)
}

/// Type-checks and compiles a parsed expression, which must evaluate to a `bool`: the same
/// result as [`compile_bool`] on its source, without parsing it again.
pub fn compile_parsed_bool(
    parsed: &ParsedExpr,
    env: Environment<'_>,
) -> Result<CompiledExpr, CompileError> {
    let ParsedExpr { source, info, ast } = parsed;
    let mut compiler = Compiler::new(env, source, info);
    check_kind_literals(ast, &compiler)?;
    let node = compiler.compile(ast)?;
    let root = compiler.to_bool(ast.id, node)?;
    Ok(CompiledExpr {
        root,
        local_slots: compiler.local_slots,
        source: source.clone(),
        kinds: kind_constraint(ast),
        features_read: compiler.features_read,
    })
}

struct Compiler<'c> {
    env: Environment<'c>,
    source: &'c str,
    info: &'c SourceInfo,
    scopes: Vec<String>,
    local_slots: usize,
    features_read: Vec<usize>,
}

impl<'c> Compiler<'c> {
    fn new(env: Environment<'c>, source: &'c str, info: &'c SourceInfo) -> Self {
        Compiler {
            env,
            source,
            info,
            scopes: Vec::new(),
            local_slots: 0,
            features_read: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn from_name(name: &str) -> Option<CmpOp> {
        Some(match name {
            operators::EQUALS => CmpOp::Eq,
            operators::NOT_EQUALS => CmpOp::Ne,
            operators::LESS => CmpOp::Lt,
            operators::LESS_EQUALS => CmpOp::Le,
            operators::GREATER => CmpOp::Gt,
            operators::GREATER_EQUALS => CmpOp::Ge,
            _ => return None,
        })
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The result for an ordering; `None` (NaN) makes every comparison false except `!=`.
    fn test(self, ordering: Option<Ordering>) -> bool {
        match (self, ordering) {
            (CmpOp::Ne, None) => true,
            (_, None) => false,
            (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
            (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
            (CmpOp::Lt, Some(o)) => o == Ordering::Less,
            (CmpOp::Le, Some(o)) => o != Ordering::Greater,
            (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
            (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        }
    }

    fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

fn arith_op(name: &str) -> Option<ArithOp> {
    Some(match name {
        operators::ADD => ArithOp::Add,
        operators::SUBSTRACT => ArithOp::Sub,
        operators::MULTIPLY => ArithOp::Mul,
        operators::DIVIDE => ArithOp::Div,
        operators::MODULO => ArithOp::Rem,
        _ => return None,
    })
}

fn literal_str(expr: &IdedExpr) -> Option<&str> {
    match &expr.expr {
        Expr::Literal(LiteralValue::String(text)) => Some(text.inner()),
        _ => None,
    }
}

fn literal_value(literal: &LiteralValue) -> Value {
    match literal {
        LiteralValue::Boolean(flag) => Value::Bool(*flag.inner()),
        LiteralValue::Bytes(bytes) => Value::Bytes(Arc::from(bytes.inner())),
        LiteralValue::Double(double) => Value::Double(*double.inner()),
        LiteralValue::Int(int) => Value::Int(*int.inner()),
        LiteralValue::Null => Value::Null,
        LiteralValue::String(text) => Value::String(Arc::from(text.inner())),
        LiteralValue::UInt(uint) => Value::UInt(*uint.inner()),
    }
}

/// The constant value of a literal, or of a list literal made only of literals.
fn constant_value(expr: &IdedExpr) -> Option<Value> {
    match &expr.expr {
        Expr::Literal(literal) => Some(literal_value(literal)),
        Expr::List(list) => list
            .elements
            .iter()
            .map(constant_value)
            .collect::<Option<Vec<_>>>()
            .map(|items| Value::List(items.into())),
        _ => None,
    }
}

fn is_record(expr: &IdedExpr, name: &str) -> bool {
    matches!(&expr.expr, Expr::Ident(ident) if ident == name)
}

fn is_event_attrs(expr: &IdedExpr) -> bool {
    matches!(&expr.expr, Expr::Select(select) if !select.test && select.field == "attrs" && is_record(&select.operand, "event"))
}

fn event_record<'a>(activation: &'a Activation<'a>) -> &'a crate::event::Event {
    activation.event
}

fn profile_record<'a>(activation: &'a Activation<'a>) -> &'a crate::profile::ProfileView {
    activation.profile
}

/// Compiles a typed field of a record into a node, or into its presence test.
fn field_node<S: 'static>(
    reader: &FieldReader<S>,
    record: for<'a> fn(&'a Activation<'a>) -> &'a S,
    presence_test: bool,
) -> Node {
    match *reader {
        FieldReader::Str(read) if presence_test => {
            Node::Bool(Box::new(move |act| Ok(read(record(act)).is_some())))
        }
        FieldReader::Int(read) if presence_test => {
            Node::Bool(Box::new(move |act| Ok(read(record(act)).is_some())))
        }
        FieldReader::Double(read) if presence_test => {
            Node::Bool(Box::new(move |act| Ok(read(record(act)).is_some())))
        }
        FieldReader::Bool(read) if presence_test => {
            Node::Bool(Box::new(move |act| Ok(read(record(act)).is_some())))
        }
        FieldReader::Timestamp(read) if presence_test => {
            Node::Bool(Box::new(move |act| Ok(read(record(act)).is_some())))
        }
        FieldReader::Timestamp(read) => Node::Dyn(Box::new(move |act| {
            Timestamp::from_millis(read(record(act)).unwrap_or(0)).map(Value::Timestamp)
        })),
        FieldReader::Str(read) => Node::Str(Box::new(move |act| {
            Ok(Cow::Borrowed(read(record(act)).unwrap_or("")))
        })),
        FieldReader::Int(read) => {
            Node::Int(Box::new(move |act| Ok(read(record(act)).unwrap_or(0))))
        }
        FieldReader::Double(read) => {
            Node::Double(Box::new(move |act| Ok(read(record(act)).unwrap_or(0.0))))
        }
        FieldReader::Bool(read) => {
            Node::Bool(Box::new(move |act| Ok(read(record(act)).unwrap_or(false))))
        }
    }
}

impl Compiler<'_> {
    fn error(&self, id: u64, message: impl Into<String>) -> CompileError {
        let offset = self
            .info
            .offset_for(id)
            .map_or(0, |(start, _)| start as usize);
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |tail| tail.chars().count())
            + 1;
        CompileError {
            line,
            column,
            message: message.into(),
        }
    }

    fn compile(&mut self, expr: &IdedExpr) -> Result<Node, CompileError> {
        match &expr.expr {
            Expr::Literal(literal) => Ok(self.literal(literal)),
            Expr::Ident(name) => self.ident(expr.id, name),
            Expr::Select(select) => self.select(expr.id, select),
            Expr::Call(call) => self.call(expr.id, call),
            Expr::List(list) => {
                if let Some(constant) = constant_value(expr) {
                    return Ok(Node::Dyn(Box::new(move |_| Ok(constant.clone()))));
                }
                if !list.optional_indices.is_empty() {
                    return Err(self.error(expr.id, "optional list elements are not supported"));
                }
                let elements = list
                    .elements
                    .iter()
                    .map(|element| self.compile(element).map(Node::into_dyn))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Node::Dyn(Box::new(move |act| {
                    elements
                        .iter()
                        .map(|element| element(act))
                        .collect::<EvalResult<Vec<_>>>()
                        .map(|items| Value::List(items.into()))
                })))
            }
            Expr::Map(map) => {
                let mut entries = Vec::with_capacity(map.entries.len());
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(map_entry) if !map_entry.optional => {
                            let key = self.compile(&map_entry.key)?.into_dyn();
                            let value = self.compile(&map_entry.value)?.into_dyn();
                            entries.push((key, value));
                        }
                        _ => return Err(self.error(entry.id, "unsupported map entry")),
                    }
                }
                Ok(Node::Dyn(Box::new(move |act| {
                    let mut built = Vec::with_capacity(entries.len());
                    for (key, value) in &entries {
                        built.push((key(act)?, value(act)?));
                    }
                    build_map(built)
                })))
            }
            Expr::Comprehension(comprehension) => self.comprehension(expr.id, comprehension),
            Expr::Struct(_) => Err(self.error(expr.id, "message construction is not supported")),
            Expr::Unspecified => Err(self.error(expr.id, "incomplete expression")),
        }
    }

    fn literal(&self, literal: &LiteralValue) -> Node {
        match literal {
            LiteralValue::Boolean(flag) => {
                let flag = *flag.inner();
                Node::Bool(Box::new(move |_| Ok(flag)))
            }
            LiteralValue::Int(int) => {
                let int = *int.inner();
                Node::Int(Box::new(move |_| Ok(int)))
            }
            LiteralValue::UInt(uint) => {
                let uint = *uint.inner();
                Node::UInt(Box::new(move |_| Ok(uint)))
            }
            LiteralValue::Double(double) => {
                let double = *double.inner();
                Node::Double(Box::new(move |_| Ok(double)))
            }
            LiteralValue::String(text) => {
                // A literal reaching a generic string position (concatenation, a function
                // argument) is copied per evaluation; comparisons and `in` take literals
                // directly and never come here.
                let text: Arc<str> = Arc::from(text.inner());
                Node::Str(Box::new(move |_| Ok(Cow::Owned(text.to_string()))))
            }
            other => {
                let value = literal_value(other);
                Node::Dyn(Box::new(move |_| Ok(value.clone())))
            }
        }
    }

    fn local_slot(&self, name: &str) -> Option<usize> {
        self.scopes.iter().rposition(|scope| scope == name)
    }

    fn push_local(&mut self, name: &str) -> usize {
        self.scopes.push(name.to_owned());
        self.local_slots = self.local_slots.max(self.scopes.len());
        self.scopes.len() - 1
    }

    fn ident(&self, id: u64, name: &str) -> Result<Node, CompileError> {
        if let Some(slot) = self.local_slot(name) {
            return Ok(Node::Dyn(Box::new(move |act| {
                act.locals
                    .borrow()
                    .get(slot)
                    .cloned()
                    .unwrap_or_else(|| Err(EvalError::new("unbound comprehension variable")))
            })));
        }
        if let Some(type_name) = type_value_name(name) {
            return Ok(Node::Dyn(Box::new(move |_| Ok(Value::Type(type_name)))));
        }
        match name {
            "event" | "features" | "profile" => Err(self.error(
                id,
                format!("'{name}' is a record: name one of its fields, as in {name}.<field>"),
            )),
            _ => Err(self.error(id, format!("undeclared reference to '{name}'"))),
        }
    }

    fn select(&mut self, id: u64, select: &SelectExpr) -> Result<Node, CompileError> {
        let field = select.field.as_str();
        let test = select.test;
        let operand = &select.operand;
        if !test {
            if let Some(type_name) = dotted_name(operand)
                .filter(|dotted| {
                    dotted
                        .split('.')
                        .next()
                        .is_some_and(|root| self.local_slot(root).is_none())
                })
                .and_then(|dotted| type_value_name(&format!("{dotted}.{field}")))
            {
                return Ok(Node::Dyn(Box::new(move |_| Ok(Value::Type(type_name)))));
            }
        }
        if let Expr::Ident(root) = &operand.expr {
            if self.local_slot(root).is_none() {
                match root.as_str() {
                    "event" => return self.event_field(id, field, test),
                    "features" => return self.feature(id, field, test),
                    "profile" => {
                        return find_field(PROFILE_FIELDS, field)
                            .map(|reader| field_node(reader, profile_record, test))
                            .ok_or_else(|| {
                                self.error(id, format!("no field '{field}' on profile"))
                            });
                    }
                    _ => {}
                }
            }
        }
        if is_event_attrs(operand) {
            let key = field.to_owned();
            return Ok(if test {
                Node::Bool(Box::new(move |act| Ok(act.event.attrs.contains_key(&key))))
            } else {
                Node::Dyn(Box::new(move |act| {
                    act.event
                        .attrs
                        .get(&key)
                        .map(Value::from_json)
                        .ok_or_else(|| EvalError::new(format!("no such key: {key}")))
                }))
            });
        }
        let operand = self.compile(operand)?.into_dyn();
        let key = Value::String(Arc::from(field));
        Ok(if test {
            Node::Bool(Box::new(move |act| match operand(act)? {
                Value::Map(entries) => Ok(map_get(&entries, &key).is_some()),
                other => Err(EvalError::new(format!("has() on {}", other.type_name()))),
            }))
        } else {
            Node::Dyn(Box::new(move |act| match operand(act)? {
                Value::Map(entries) => map_get(&entries, &key)
                    .cloned()
                    .ok_or_else(|| EvalError::new(format!("no such key: {key}"))),
                other => Err(EvalError::new(format!(
                    "field selection on {}",
                    other.type_name()
                ))),
            }))
        })
    }

    fn event_field(&mut self, id: u64, field: &str, test: bool) -> Result<Node, CompileError> {
        match field {
            "ip" if test => Ok(Node::Bool(Box::new(|act| Ok(act.event.ip.is_some())))),
            "ip" => Ok(Node::Str(Box::new(|act| {
                Ok(act
                    .event
                    .ip
                    .map_or(Cow::Borrowed(""), |ip| Cow::Owned(ip.to_string())))
            }))),
            "attrs" if test => Ok(Node::Bool(Box::new(|act| Ok(!act.event.attrs.is_empty())))),
            "attrs" => Ok(Node::Dyn(Box::new(|act| {
                Ok(Value::Map(
                    act.event
                        .attrs
                        .iter()
                        .map(|(key, value)| {
                            (
                                Value::String(Arc::from(key.as_str())),
                                Value::from_json(value),
                            )
                        })
                        .collect(),
                ))
            }))),
            _ => event_field(field)
                .map(|reader| field_node(&reader, event_record, test))
                .ok_or_else(|| self.error(id, format!("no field '{field}' on event"))),
        }
    }

    fn feature(&mut self, id: u64, name: &str, test: bool) -> Result<Node, CompileError> {
        let Some(index) = self.env.features.iter().position(|decl| decl.name == name) else {
            return Err(self.error(
                id,
                format!("no feature named '{name}' is declared in this policy"),
            ));
        };
        if test {
            return Ok(Node::Bool(Box::new(|_| Ok(true))));
        }
        if !self.features_read.contains(&index) {
            self.features_read.push(index);
        }
        Ok(if self.env.features[index].integer {
            Node::Int(Box::new(move |act| Ok(act.features.feature(index) as i64)))
        } else {
            Node::Double(Box::new(move |act| Ok(act.features.feature(index))))
        })
    }

    fn to_bool(&self, id: u64, node: Node) -> Result<Fun<bool>, CompileError> {
        match node {
            Node::Bool(f) => Ok(f),
            Node::Dyn(f) => Ok(Box::new(move |act| f(act)?.as_bool())),
            other => Err(self.error(id, format!("expected bool, found {}", other.type_name()))),
        }
    }

    fn to_str(&self, id: u64, node: Node) -> Result<StrFun, CompileError> {
        match node {
            Node::Str(f) => Ok(f),
            Node::Dyn(f) => Ok(Box::new(move |act| {
                f(act)?.as_str().map(|text| Cow::Owned(text.to_owned()))
            })),
            other => Err(self.error(id, format!("expected string, found {}", other.type_name()))),
        }
    }

    fn compile_bool_arg(&mut self, expr: &IdedExpr) -> Result<Fun<bool>, CompileError> {
        let node = self.compile(expr)?;
        self.to_bool(expr.id, node)
    }

    fn compile_str_arg(&mut self, expr: &IdedExpr) -> Result<StrFun, CompileError> {
        let node = self.compile(expr)?;
        self.to_str(expr.id, node)
    }

    fn call(&mut self, id: u64, call: &CallExpr) -> Result<Node, CompileError> {
        let name = call.func_name.as_str();
        let args = &call.args;
        if let Some(op) = CmpOp::from_name(name) {
            return self.comparison(id, op, &args[0], &args[1]);
        }
        if let Some(op) = arith_op(name) {
            return self.arithmetic(id, op, &args[0], &args[1]);
        }
        match name {
            operators::LOGICAL_AND | operators::LOGICAL_OR => {
                let left = self.compile_bool_arg(&args[0])?;
                let right = self.compile_bool_arg(&args[1])?;
                // CEL's commutative logic: a decisive side wins over an error on the other.
                let decisive = name == operators::LOGICAL_OR;
                Ok(Node::Bool(Box::new(move |act| {
                    let left_result = left(act);
                    if left_result == Ok(decisive) {
                        return Ok(decisive);
                    }
                    let right_result = right(act);
                    match (left_result, right_result) {
                        (_, Ok(value)) if value == decisive => Ok(decisive),
                        (Ok(_), right_result) => right_result,
                        (Err(error), _) => Err(error),
                    }
                })))
            }
            operators::LOGICAL_NOT => {
                let operand = self.compile_bool_arg(&args[0])?;
                Ok(Node::Bool(Box::new(move |act| {
                    operand(act).map(|flag| !flag)
                })))
            }
            operators::NOT_STRICTLY_FALSE => {
                let operand = self.compile_bool_arg(&args[0])?;
                Ok(Node::Bool(Box::new(move |act| {
                    Ok(operand(act) != Ok(false))
                })))
            }
            operators::NEGATE => match self.compile(&args[0])? {
                Node::Int(f) => Ok(Node::Int(Box::new(move |act| {
                    f(act)?
                        .checked_neg()
                        .ok_or_else(|| EvalError::new("integer overflow"))
                }))),
                Node::Double(f) => Ok(Node::Double(Box::new(move |act| f(act).map(|x| -x)))),
                Node::Dyn(f) => Ok(Node::Dyn(Box::new(move |act| match f(act)? {
                    Value::Int(int) => int
                        .checked_neg()
                        .map(Value::Int)
                        .ok_or_else(|| EvalError::new("integer overflow")),
                    Value::Double(double) => Ok(Value::Double(-double)),
                    other => Err(EvalError::new(format!(
                        "no such overload: -{}",
                        other.type_name()
                    ))),
                }))),
                other => Err(self.error(id, format!("cannot negate {}", other.type_name()))),
            },
            operators::CONDITIONAL => {
                let condition = self.compile_bool_arg(&args[0])?;
                let when_true = self.compile(&args[1])?;
                let when_false = self.compile(&args[2])?;
                Ok(conditional(condition, when_true, when_false))
            }
            operators::INDEX => self.index(&args[0], &args[1]),
            operators::IN => self.membership(id, &args[0], &args[1]),
            "size" => {
                let subject = call.target.as_deref().or(args.first());
                let Some(subject) = subject else {
                    return Err(self.error(id, "size() takes one argument"));
                };
                match self.compile(subject)? {
                    Node::Str(f) => Ok(Node::Int(Box::new(move |act| {
                        Ok(f(act)?.chars().count() as i64)
                    }))),
                    Node::Dyn(f) => Ok(Node::Int(Box::new(move |act| f(act)?.cel_size()))),
                    other => Err(self.error(id, format!("size() of {}", other.type_name()))),
                }
            }
            "contains" | "startsWith" | "endsWith" => self.string_test(id, name, call),
            "matches" => self.matches(id, call),
            "lowerAscii" | "upperAscii" | "trim" => {
                let Some(target) = call.target.as_deref() else {
                    return Err(
                        self.error(id, format!("{name}() is called on a string: s.{name}()"))
                    );
                };
                let subject = self.compile_str_arg(target)?;
                let transform: fn(&str) -> String = match name {
                    "lowerAscii" => str::to_ascii_lowercase,
                    "upperAscii" => str::to_ascii_uppercase,
                    _ => |text| text.trim().to_owned(),
                };
                Ok(Node::Str(Box::new(move |act| {
                    Ok(Cow::Owned(transform(&subject(act)?)))
                })))
            }
            "int" | "uint" | "double" | "string" if call.target.is_none() => {
                self.conversion(id, name, call)
            }
            "dyn" if call.target.is_none() && args.len() == 1 => {
                Ok(Node::Dyn(self.compile(&args[0])?.into_dyn()))
            }
            "type" | "bool" | "bytes" | "timestamp" | "duration" if call.target.is_none() => {
                let [argument] = args.as_slice() else {
                    return Err(self.error(id, format!("{name}() takes one argument")));
                };
                let Some(convert) = conversion(name) else {
                    return Err(self.error(id, format!("unknown function '{name}'")));
                };
                // A literal argument is converted once, here, and a bad one is a compile error.
                if let Some(constant) = constant_value(argument) {
                    let converted = convert(constant)
                        .map_err(|error| self.error(argument.id, error.to_string()))?;
                    return Ok(Node::Dyn(Box::new(move |_| Ok(converted.clone()))));
                }
                let value = self.compile(argument)?.into_dyn();
                Ok(Node::Dyn(Box::new(move |act| convert(value(act)?))))
            }
            "in_list" => self.in_list(id, call),
            "email_domain" => {
                let [argument] = args.as_slice() else {
                    return Err(self.error(id, "email_domain() takes one argument"));
                };
                let subject = self.compile_str_arg(argument)?;
                Ok(Node::Str(Box::new(move |act| {
                    Ok(match subject(act)? {
                        Cow::Borrowed(text) => {
                            Cow::Borrowed(text.rsplit_once('@').map_or("", |(_, domain)| domain))
                        }
                        Cow::Owned(text) => Cow::Owned(
                            text.rsplit_once('@')
                                .map_or("", |(_, domain)| domain)
                                .to_owned(),
                        ),
                    })
                })))
            }
            _ => self.function_call(id, name, call),
        }
    }

    /// A call to one of the extension functions or accessors of [`functions`], resolved now
    /// and applied to the evaluated arguments.
    fn function_call(
        &mut self,
        id: u64,
        name: &str,
        call: &CallExpr,
    ) -> Result<Node, CompileError> {
        let namespace = call
            .target
            .as_deref()
            .and_then(|target| match &target.expr {
                Expr::Ident(space) if self.local_slot(space).is_none() => Some(space.as_str()),
                _ => None,
            });
        let (function, receiver) = match namespace
            .and_then(|space| functions::resolve(&format!("{space}.{name}"), false))
        {
            Some(function) => (function, None),
            None => {
                let receiver = call.target.as_deref();
                let Some(function) = functions::resolve(name, receiver.is_some()) else {
                    return Err(self.error(id, format!("unknown function '{name}'")));
                };
                (function, receiver)
            }
        };
        let mut operands = Vec::with_capacity(call.args.len() + 1);
        for operand in receiver.into_iter().chain(call.args.iter()) {
            operands.push(self.compile(operand)?.into_dyn());
        }
        Ok(Node::Dyn(Box::new(move |act| {
            let values = operands
                .iter()
                .map(|operand| operand(act))
                .collect::<EvalResult<smallvec::SmallVec<[Value; 4]>>>()?;
            function(&values)
        })))
    }

    fn comparison(
        &mut self,
        id: u64,
        op: CmpOp,
        left_expr: &IdedExpr,
        right_expr: &IdedExpr,
    ) -> Result<Node, CompileError> {
        // A string literal on either side is compared in place, without copying it.
        if let Some(literal) = literal_str(right_expr).or_else(|| literal_str(left_expr)) {
            let literal_on_left = literal_str(right_expr).is_none();
            let other_expr = if literal_on_left {
                right_expr
            } else {
                left_expr
            };
            if let Node::Str(other) = self.compile(other_expr)? {
                let literal: Box<str> = literal.into();
                return Ok(Node::Bool(Box::new(move |act| {
                    let text = other(act)?;
                    let ordering = if literal_on_left {
                        (*literal).cmp(text.as_ref())
                    } else {
                        text.as_ref().cmp(&*literal)
                    };
                    Ok(op.test(Some(ordering)))
                })));
            }
        }
        let left = self.compile(left_expr)?;
        let right = self.compile(right_expr)?;
        macro_rules! numeric {
            ($a:ident, $b:ident, |$x:ident, $y:ident| $ordering:expr) => {
                Node::Bool(Box::new(move |act| {
                    let $x = $a(act)?;
                    let $y = $b(act)?;
                    Ok(op.test($ordering))
                }))
            };
        }
        Ok(match (left, right) {
            (Node::Int(a), Node::Int(b)) => numeric!(a, b, |x, y| Some(x.cmp(&y))),
            (Node::UInt(a), Node::UInt(b)) => numeric!(a, b, |x, y| Some(x.cmp(&y))),
            (Node::Double(a), Node::Double(b)) => numeric!(a, b, |x, y| x.partial_cmp(&y)),
            (Node::Int(a), Node::Double(b)) => numeric!(a, b, |x, y| (x as f64).partial_cmp(&y)),
            (Node::Double(a), Node::Int(b)) => numeric!(a, b, |x, y| x.partial_cmp(&(y as f64))),
            (Node::UInt(a), Node::Double(b)) => numeric!(a, b, |x, y| (x as f64).partial_cmp(&y)),
            (Node::Double(a), Node::UInt(b)) => numeric!(a, b, |x, y| x.partial_cmp(&(y as f64))),
            (Node::Int(a), Node::UInt(b)) => {
                numeric!(a, b, |x, y| Some(i128::from(x).cmp(&i128::from(y))))
            }
            (Node::UInt(a), Node::Int(b)) => {
                numeric!(a, b, |x, y| Some(i128::from(x).cmp(&i128::from(y))))
            }
            (Node::Bool(a), Node::Bool(b)) => numeric!(a, b, |x, y| Some(x.cmp(&y))),
            (Node::Str(a), Node::Str(b)) => Node::Bool(Box::new(move |act| {
                Ok(op.test(Some(a(act)?.as_ref().cmp(b(act)?.as_ref()))))
            })),
            (left @ Node::Dyn(_), right) | (left, right @ Node::Dyn(_)) => {
                let a = left.into_dyn();
                let b = right.into_dyn();
                if op.is_equality() {
                    Node::Bool(Box::new(move |act| {
                        let equal = a(act)?.cel_equals(&b(act)?);
                        Ok(equal == (op == CmpOp::Eq))
                    }))
                } else {
                    Node::Bool(Box::new(move |act| {
                        Ok(op.test(Some(a(act)?.cel_compare(&b(act)?)?)))
                    }))
                }
            }
            (left, right) => {
                return Err(self.error(
                    id,
                    format!(
                        "no matching overload for '{}' applied to ({}, {})",
                        op.symbol(),
                        left.type_name(),
                        right.type_name()
                    ),
                ))
            }
        })
    }

    fn arithmetic(
        &mut self,
        id: u64,
        op: ArithOp,
        left_expr: &IdedExpr,
        right_expr: &IdedExpr,
    ) -> Result<Node, CompileError> {
        let left = self.compile(left_expr)?;
        let right = self.compile(right_expr)?;
        Ok(match (left, right) {
            (Node::Int(a), Node::Int(b)) => {
                Node::Int(Box::new(move |act| op.int(a(act)?, b(act)?)))
            }
            (Node::UInt(a), Node::UInt(b)) => {
                Node::UInt(Box::new(move |act| op.uint(a(act)?, b(act)?)))
            }
            (Node::Double(a), Node::Double(b)) => {
                if op == ArithOp::Rem {
                    return Err(self.error(id, "'%' is not defined on double"));
                }
                Node::Double(Box::new(move |act| op.double(a(act)?, b(act)?)))
            }
            (Node::Str(a), Node::Str(b)) if op == ArithOp::Add => Node::Str(Box::new(move |act| {
                let mut joined = a(act)?.into_owned();
                joined.push_str(&b(act)?);
                Ok(Cow::Owned(joined))
            })),
            (left @ Node::Dyn(_), right) | (left, right @ Node::Dyn(_)) => {
                let a = left.into_dyn();
                let b = right.into_dyn();
                Node::Dyn(Box::new(move |act| a(act)?.cel_arith(op, &b(act)?)))
            }
            (left, right) => {
                let hint = if matches!(
                    (&left, &right),
                    (Node::Int(_), Node::Double(_)) | (Node::Double(_), Node::Int(_))
                ) {
                    "; CEL does not mix int and double: write 2.0 for a double literal or convert with double()"
                } else {
                    ""
                };
                return Err(self.error(
                    id,
                    format!(
                        "no matching overload for '{}' applied to ({}, {}){hint}",
                        op.symbol(),
                        left.type_name(),
                        right.type_name()
                    ),
                ));
            }
        })
    }

    fn index(&mut self, container: &IdedExpr, index: &IdedExpr) -> Result<Node, CompileError> {
        if is_event_attrs(container) {
            if let Some(key) = literal_str(index) {
                let key = key.to_owned();
                return Ok(Node::Dyn(Box::new(move |act| {
                    act.event
                        .attrs
                        .get(&key)
                        .map(Value::from_json)
                        .ok_or_else(|| EvalError::new(format!("no such key: {key}")))
                })));
            }
        }
        let container = self.compile(container)?.into_dyn();
        let index = self.compile(index)?.into_dyn();
        Ok(Node::Dyn(Box::new(move |act| {
            container(act)?.cel_index(&index(act)?)
        })))
    }

    fn membership(
        &mut self,
        id: u64,
        element: &IdedExpr,
        container: &IdedExpr,
    ) -> Result<Node, CompileError> {
        let element_node = self.compile(element)?;
        if let Some(Value::List(items)) = constant_value(container) {
            match element_node {
                Node::Str(subject) if items.iter().all(|item| matches!(item, Value::String(_))) => {
                    // Fx, not SipHash: the set is fixed by the policy's author, not by clients.
                    let set: rustc_hash::FxHashSet<Box<str>> = items
                        .iter()
                        .filter_map(|item| item.as_str().ok().map(Box::from))
                        .collect();
                    return Ok(Node::Bool(Box::new(move |act| {
                        Ok(set.contains(subject(act)?.as_ref()))
                    })));
                }
                Node::Int(subject) if items.iter().all(|item| matches!(item, Value::Int(_))) => {
                    let ints: Vec<i64> =
                        items.iter().filter_map(|item| item.as_int().ok()).collect();
                    return Ok(Node::Bool(Box::new(move |act| {
                        Ok(ints.contains(&subject(act)?))
                    })));
                }
                other => {
                    let subject = other.into_dyn();
                    let list = Value::List(items);
                    return Ok(Node::Bool(Box::new(move |act| subject(act)?.cel_in(&list))));
                }
            }
        }
        let container_node = self.compile(container)?;
        if !matches!(container_node, Node::Dyn(_)) {
            return Err(self.error(
                id,
                format!(
                    "'in' needs a list or map, found {}",
                    container_node.type_name()
                ),
            ));
        }
        let subject = element_node.into_dyn();
        let container = container_node.into_dyn();
        Ok(Node::Bool(Box::new(move |act| {
            subject(act)?.cel_in(&container(act)?)
        })))
    }

    fn string_test(&mut self, id: u64, name: &str, call: &CallExpr) -> Result<Node, CompileError> {
        let (Some(target), [argument]) = (call.target.as_deref(), call.args.as_slice()) else {
            return Err(self.error(id, format!("{name} is called as text.{name}(other)")));
        };
        let test: fn(&str, &str) -> bool = match name {
            "contains" => |text, part| text.contains(part),
            "startsWith" => |text, part| text.starts_with(part),
            _ => |text, part| text.ends_with(part),
        };
        let subject = self.compile_str_arg(target)?;
        if let Some(literal) = literal_str(argument) {
            let literal: Box<str> = literal.into();
            return Ok(Node::Bool(Box::new(move |act| {
                Ok(test(&subject(act)?, &literal))
            })));
        }
        let part = self.compile_str_arg(argument)?;
        Ok(Node::Bool(Box::new(move |act| {
            Ok(test(&subject(act)?, &part(act)?))
        })))
    }

    fn matches(&mut self, id: u64, call: &CallExpr) -> Result<Node, CompileError> {
        let (subject_expr, pattern_expr) = match (call.target.as_deref(), call.args.as_slice()) {
            (Some(target), [pattern]) => (target, pattern),
            (None, [subject, pattern]) => (subject, pattern),
            _ => return Err(self.error(id, "matches takes a text and a pattern")),
        };
        let Some(pattern) = literal_str(pattern_expr) else {
            return Err(self.error(
                pattern_expr.id,
                "the pattern of matches() must be a string literal",
            ));
        };
        let regex = regex::Regex::new(pattern).map_err(|error| {
            self.error(
                pattern_expr.id,
                format!("invalid regular expression: {error}"),
            )
        })?;
        let subject = self.compile_str_arg(subject_expr)?;
        Ok(Node::Bool(Box::new(move |act| {
            Ok(regex.is_match(&subject(act)?))
        })))
    }

    fn conversion(&mut self, id: u64, name: &str, call: &CallExpr) -> Result<Node, CompileError> {
        let [argument] = call.args.as_slice() else {
            return Err(self.error(id, format!("{name}() takes one argument")));
        };
        let node = self.compile(argument)?;
        let as_value = node.into_dyn();
        let Some(convert) = conversion(name) else {
            return Err(self.error(id, format!("unknown function '{name}'")));
        };
        let converted: Fun<Value> = Box::new(move |act| convert(as_value(act)?));
        // Typed results keep the fast path for what follows.
        Ok(match name {
            "int" => Node::Int(Box::new(move |act| converted(act)?.as_int())),
            "uint" => Node::UInt(Box::new(move |act| converted(act)?.as_uint())),
            "double" => Node::Double(Box::new(move |act| converted(act)?.as_double())),
            _ => Node::Str(Box::new(move |act| {
                converted(act)?
                    .as_str()
                    .map(|text| Cow::Owned(text.to_owned()))
            })),
        })
    }

    fn in_list(&mut self, id: u64, call: &CallExpr) -> Result<Node, CompileError> {
        let [name_expr, value_expr] = call.args.as_slice() else {
            return Err(self.error(
                id,
                "in_list takes a list name and a value: in_list('ip_block', event.ip)",
            ));
        };
        let Some(list_name) = literal_str(name_expr) else {
            return Err(self.error(
                name_expr.id,
                "the list name of in_list() must be a string literal",
            ));
        };
        let Some(list) = self.env.lists.resolve(list_name) else {
            return Err(self.error(
                name_expr.id,
                format!("no list named '{list_name}': declare it in the policy's [[lists]]"),
            ));
        };
        // `event.ip` is matched as an address, without formatting it to text.
        let is_event_ip = matches!(&value_expr.expr, Expr::Select(select) if !select.test && select.field == "ip" && is_record(&select.operand, "event") && self.local_slot("event").is_none());
        if is_event_ip {
            return Ok(Node::Bool(Box::new(move |act| {
                Ok(act.event.ip.is_some_and(|ip: IpAddr| {
                    act.lists.contains_ip(list, ip, act.event.occurred_at_ms)
                }))
            })));
        }
        let value = self.compile_str_arg(value_expr)?;
        Ok(Node::Bool(Box::new(move |act| {
            Ok(act
                .lists
                .contains(list, &value(act)?, act.event.occurred_at_ms))
        })))
    }

    fn comprehension(
        &mut self,
        id: u64,
        comprehension: &ComprehensionExpr,
    ) -> Result<Node, CompileError> {
        if comprehension.iter_var2.is_some() {
            return Err(self.error(id, "two-variable comprehensions are not supported"));
        }
        let range = self.compile(&comprehension.iter_range)?.into_dyn();
        let accu_init = self.compile(&comprehension.accu_init)?.into_dyn();
        let accu_slot = self.push_local(&comprehension.accu_var);
        let iter_slot = self.push_local(&comprehension.iter_var);
        let condition = self.compile_bool_arg(&comprehension.loop_cond)?;
        let step = self.compile(&comprehension.loop_step)?.into_dyn();
        self.scopes.pop();
        let result = self.compile(&comprehension.result)?.into_dyn();
        self.scopes.pop();
        Ok(Node::Dyn(Box::new(move |act| {
            let items: Vec<Value> = match range(act)? {
                Value::List(items) => items.to_vec(),
                Value::Map(entries) => entries.iter().map(|(key, _)| key.clone()).collect(),
                other => {
                    return Err(EvalError::new(format!(
                        "cannot iterate over {}",
                        other.type_name()
                    )))
                }
            };
            let initial = accu_init(act)?;
            set_local(act, accu_slot, Ok(initial))?;
            for item in items {
                set_local(act, iter_slot, Ok(item))?;
                if !condition(act)? {
                    break;
                }
                // An error stays in the accumulator: `&&` and `||` in the next steps may
                // still absorb it (CEL's commutative logic in `all` and `exists`).
                let next = step(act);
                set_local(act, accu_slot, next)?;
            }
            result(act)
        })))
    }
}

fn set_local(act: &Activation<'_>, slot: usize, value: EvalResult<Value>) -> EvalResult<()> {
    let mut locals = act.locals.borrow_mut();
    let place = locals
        .get_mut(slot)
        .ok_or_else(|| EvalError::new("unbound comprehension variable"))?;
    *place = value;
    Ok(())
}

/// The CEL name of a type written as an identifier (`int`, `google.protobuf.Timestamp`).
fn type_value_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "bool" => "bool",
        "int" => "int",
        "uint" => "uint",
        "double" => "double",
        "string" => "string",
        "bytes" => "bytes",
        "list" => "list",
        "map" => "map",
        "null_type" => "null_type",
        "type" => "type",
        "google.protobuf.Timestamp" => "google.protobuf.Timestamp",
        "google.protobuf.Duration" => "google.protobuf.Duration",
        _ => return None,
    })
}

/// The dotted name a chain of selections on an identifier spells (`a.b.c`).
fn dotted_name(expr: &IdedExpr) -> Option<String> {
    match &expr.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(select) if !select.test => Some(format!(
            "{}.{}",
            dotted_name(&select.operand)?,
            select.field
        )),
        _ => None,
    }
}

fn conditional(condition: Fun<bool>, when_true: Node, when_false: Node) -> Node {
    macro_rules! pick {
        ($variant:ident, $a:ident, $b:ident) => {
            Node::$variant(Box::new(
                move |act| if condition(act)? { $a(act) } else { $b(act) },
            ))
        };
    }
    match (when_true, when_false) {
        (Node::Bool(a), Node::Bool(b)) => pick!(Bool, a, b),
        (Node::Int(a), Node::Int(b)) => pick!(Int, a, b),
        (Node::UInt(a), Node::UInt(b)) => pick!(UInt, a, b),
        (Node::Double(a), Node::Double(b)) => pick!(Double, a, b),
        (Node::Str(a), Node::Str(b)) => {
            Node::Str(Box::new(
                move |act| if condition(act)? { a(act) } else { b(act) },
            ))
        }
        (a, b) => {
            let a = a.into_dyn();
            let b = b.into_dyn();
            pick!(Dyn, a, b)
        }
    }
}
