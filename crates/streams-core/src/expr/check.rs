//! Parse (sqlparser) and type-check: SQL text → a typed [`Node`] tree, or every problem
//! found, each with its position.

use sqlparser::ast::{
    self, BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned,
    UnaryOperator,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use super::ExprError;
use crate::value::{parse_date, ColumnType, Schema};

/// A typed expression tree; every node knows its type.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Column {
        index: usize,
        ty: ColumnType,
        nullable: bool,
    },
    Literal(Lit),
    Cmp {
        op: CmpOp,
        left: Box<Node>,
        right: Box<Node>,
    },
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    IsNull {
        expr: Box<Node>,
        negated: bool,
    },
    Like {
        expr: Box<Node>,
        pattern: Box<Node>,
        negated: bool,
        case_insensitive: bool,
    },
    InList {
        expr: Box<Node>,
        list: Vec<Node>,
        negated: bool,
    },
    Case {
        branches: Vec<(Node, Node)>,
        otherwise: Box<Node>,
        ty: ColumnType,
    },
    Arith {
        op: ArithOp,
        left: Box<Node>,
        right: Box<Node>,
        ty: ColumnType,
    },
    Neg(Box<Node>),
    Cast {
        expr: Box<Node>,
        to: ColumnType,
    },
    Call {
        func: Func,
        args: Vec<Node>,
        ty: ColumnType,
    },
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null(ColumnType),
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Timestamp(i64),
    Date(i32),
}

impl Lit {
    fn ty(&self) -> ColumnType {
        match self {
            Lit::Null(t) => *t,
            Lit::Bool(_) => ColumnType::Bool,
            Lit::Int(_) => ColumnType::Int,
            Lit::Float(_) => ColumnType::Float,
            Lit::Str(_) => ColumnType::Str,
            Lit::Timestamp(_) => ColumnType::Timestamp,
            Lit::Date(_) => ColumnType::Date,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// A scalar function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Coalesce,
    Lower,
    Upper,
    Trim,
    Ltrim,
    Rtrim,
    Length,
    Concat,
    Round,
    Abs,
    IsFinite,
    ToTimestamp,
    ToDate,
}

impl Node {
    pub(crate) fn ty(&self) -> ColumnType {
        match self {
            Node::Column { ty, .. } => *ty,
            Node::Literal(l) => l.ty(),
            Node::Cmp { .. }
            | Node::And(..)
            | Node::Or(..)
            | Node::Not(_)
            | Node::IsNull { .. }
            | Node::Like { .. }
            | Node::InList { .. } => ColumnType::Bool,
            Node::Case { ty, .. } | Node::Arith { ty, .. } | Node::Call { ty, .. } => *ty,
            Node::Neg(e) => e.ty(),
            Node::Cast { to, .. } => *to,
        }
    }

    pub(crate) fn nullable(&self) -> bool {
        match self {
            Node::Column { nullable, .. } => *nullable,
            Node::Literal(l) => matches!(l, Lit::Null(_)),
            Node::IsNull { .. } => false,
            Node::Cmp { left, right, .. } => left.nullable() || right.nullable(),
            Node::And(a, b) | Node::Or(a, b) => a.nullable() || b.nullable(),
            Node::Not(e) | Node::Neg(e) => e.nullable(),
            Node::Like { expr, pattern, .. } => expr.nullable() || pattern.nullable(),
            Node::InList { expr, list, .. } => expr.nullable() || list.iter().any(Node::nullable),
            Node::Case {
                branches,
                otherwise,
                ..
            } => otherwise.nullable() || branches.iter().any(|(_, r)| r.nullable()),
            Node::Arith {
                op, left, right, ..
            } => matches!(op, ArithOp::Div | ArithOp::Rem) || left.nullable() || right.nullable(),
            // A conversion from text may fail, which gives NULL.
            Node::Cast { expr, to } => {
                expr.nullable() || (expr.ty() == ColumnType::Str && *to != ColumnType::Str)
            }
            Node::Call { func, args, .. } => match func {
                Func::Coalesce => args.iter().all(Node::nullable),
                Func::ToTimestamp | Func::ToDate => args
                    .iter()
                    .any(|a| a.nullable() || a.ty() == ColumnType::Str),
                _ => args.iter().any(Node::nullable),
            },
        }
    }

    pub(crate) fn columns(&self, out: &mut Vec<usize>) {
        match self {
            Node::Column { index, .. } => out.push(*index),
            Node::Literal(_) => {}
            Node::Cmp { left, right, .. }
            | Node::Arith { left, right, .. }
            | Node::And(left, right)
            | Node::Or(left, right)
            | Node::Like {
                expr: left,
                pattern: right,
                ..
            } => {
                left.columns(out);
                right.columns(out);
            }
            Node::Not(e)
            | Node::Neg(e)
            | Node::IsNull { expr: e, .. }
            | Node::Cast { expr: e, .. } => e.columns(out),
            Node::InList { expr, list, .. } => {
                expr.columns(out);
                list.iter().for_each(|n| n.columns(out));
            }
            Node::Case {
                branches,
                otherwise,
                ..
            } => {
                for (c, r) in branches {
                    c.columns(out);
                    r.columns(out);
                }
                otherwise.columns(out);
            }
            Node::Call { args, .. } => args.iter().for_each(|n| n.columns(out)),
        }
    }
}

/// A checked sub-expression: `None` type is an untyped `NULL` that takes the type its
/// context gives it.
struct Typed {
    node: Node,
    ty: Option<ColumnType>,
    /// Where the sub-expression starts, for messages.
    at: Option<(u64, u64)>,
}

fn type_name(t: Option<ColumnType>) -> &'static str {
    match t {
        None => "null",
        Some(ColumnType::Bool) => "boolean",
        Some(ColumnType::Int) => "bigint",
        Some(ColumnType::Float) => "double",
        Some(ColumnType::Str) => "string",
        Some(ColumnType::Timestamp) => "timestamp",
        Some(ColumnType::Date) => "date",
    }
}

fn is_numeric(t: ColumnType) -> bool {
    matches!(t, ColumnType::Int | ColumnType::Float)
}

fn position(span: Span) -> Option<(u64, u64)> {
    (span.start.line > 0).then_some((span.start.line, span.start.column))
}

/// Parses and checks `text`.
pub(crate) fn compile(text: &str, schema: &Schema) -> Result<Node, Vec<ExprError>> {
    if text.trim().is_empty() {
        return Err(vec![ExprError {
            position: None,
            message: "the expression is empty".into(),
        }]);
    }
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            // Anything after one expression is a mistake (e.g. `a = 1 b`).
            let next = p.peek_token();
            if next.token != sqlparser::tokenizer::Token::EOF {
                return Err(sqlparser::parser::ParserError::ParserError(format!(
                    "unexpected `{}` after the expression at Line: {}, Column: {}",
                    next.token, next.span.start.line, next.span.start.column
                )));
            }
            Ok(e)
        })
        .map_err(|e| vec![parse_error(e)])?;
    let mut checker = Checker {
        schema,
        errors: Vec::new(),
    };
    let typed = checker.check(&parsed);
    match (typed, checker.errors.is_empty()) {
        (Some(t), true) => Ok(match t.ty {
            Some(_) => t.node,
            // A bare NULL: a nullable string.
            None => Node::Literal(Lit::Null(ColumnType::Str)),
        }),
        _ => Err(checker.errors),
    }
}

fn parse_error(e: sqlparser::parser::ParserError) -> ExprError {
    let message = match &e {
        sqlparser::parser::ParserError::TokenizerError(m)
        | sqlparser::parser::ParserError::ParserError(m) => m.clone(),
        sqlparser::parser::ParserError::RecursionLimitExceeded => {
            "the expression nests too deeply".into()
        }
    };
    // sqlparser appends " at Line: L, Column: C"; turn it into our position.
    if let Some(i) = message.rfind(" at Line: ") {
        let (head, tail) = message.split_at(i);
        let nums: Vec<u64> = tail
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|s| s.parse().ok())
            .collect();
        if let [line, col] = nums[..] {
            return ExprError {
                position: Some((line, col)),
                message: format!("syntax error: {}", head.trim()),
            };
        }
    }
    ExprError {
        position: None,
        message: format!("syntax error: {message}"),
    }
}

struct Checker<'a> {
    schema: &'a Schema,
    errors: Vec<ExprError>,
}

impl Checker<'_> {
    fn error(&mut self, at: Option<(u64, u64)>, message: impl Into<String>) {
        self.errors.push(ExprError {
            position: at,
            message: message.into(),
        });
    }

    fn check(&mut self, e: &Expr) -> Option<Typed> {
        let at = position(e.span());
        let typed = |node: Node| {
            let ty = Some(node.ty());
            Some(Typed { node, ty, at })
        };
        match e {
            Expr::Nested(inner) => self.check(inner),
            Expr::Identifier(id) => self.column(id),
            Expr::CompoundIdentifier(parts) => {
                let name: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                self.error(
                    at,
                    format!(
                        "`{}`: columns are named without a qualifier (nested input fields get a name in the source schema)",
                        name.join(".")
                    ),
                );
                None
            }
            Expr::Value(v) => self.literal(&v.value, at),
            Expr::TypedString(ts) => {
                let text = ts.value.value.clone().into_string().unwrap_or_default();
                let ty = self.data_type(&ts.data_type, at)?;
                match literal_of(ty, &text) {
                    Some(l) => typed(Node::Literal(l)),
                    None => {
                        self.error(
                            at,
                            format!("`{text}` is not a valid {} literal", type_name(Some(ty))),
                        );
                        None
                    }
                }
            }
            Expr::UnaryOp { op, expr } => {
                let inner = self.check(expr);
                match op {
                    UnaryOperator::Not => {
                        let n = self.expect(inner?, ColumnType::Bool, "NOT")?;
                        typed(Node::Not(Box::new(n)))
                    }
                    UnaryOperator::Minus => {
                        let inner = inner?;
                        // Fold `-<literal>` so that i64::MIN and negative constants stay literals.
                        match inner.node {
                            Node::Literal(Lit::Int(i)) => {
                                typed(Node::Literal(Lit::Int(i.wrapping_neg())))
                            }
                            Node::Literal(Lit::Float(f)) => typed(Node::Literal(Lit::Float(-f))),
                            _ => {
                                let n = self.numeric(inner, "unary minus")?;
                                typed(Node::Neg(Box::new(n.0)))
                            }
                        }
                    }
                    UnaryOperator::Plus => {
                        let n = self.numeric(inner?, "unary plus")?;
                        typed(n.0)
                    }
                    other => {
                        self.error(at, format!("operator `{other}` is not supported"));
                        None
                    }
                }
            }
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right, at),
            Expr::IsNull(x) | Expr::IsNotNull(x) => {
                let inner = self.check(x)?;
                let node = match inner.ty {
                    Some(_) => inner.node,
                    None => Node::Literal(Lit::Null(ColumnType::Str)),
                };
                typed(Node::IsNull {
                    expr: Box::new(node),
                    negated: matches!(e, Expr::IsNotNull(_)),
                })
            }
            Expr::IsTrue(x) | Expr::IsFalse(x) | Expr::IsNotTrue(x) | Expr::IsNotFalse(x) => {
                let inner = self.check(x)?;
                let n = self.expect(inner, ColumnType::Bool, "IS TRUE / IS FALSE")?;
                // `x IS TRUE` is coalesce(x = true, false), never NULL; `IS NOT` negates it.
                let eq = Node::Call {
                    func: Func::Coalesce,
                    args: vec![
                        Node::Cmp {
                            op: CmpOp::Eq,
                            left: Box::new(n),
                            right: Box::new(Node::Literal(Lit::Bool(matches!(
                                e,
                                Expr::IsTrue(_) | Expr::IsNotTrue(_)
                            )))),
                        },
                        Node::Literal(Lit::Bool(false)),
                    ],
                    ty: ColumnType::Bool,
                };
                if matches!(e, Expr::IsTrue(_) | Expr::IsFalse(_)) {
                    typed(eq)
                } else {
                    typed(Node::Not(Box::new(eq)))
                }
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.check(expr);
                let items: Vec<Option<Typed>> = list.iter().map(|i| self.check(i)).collect();
                let x = x?;
                let items: Vec<Typed> = items.into_iter().collect::<Option<_>>()?;
                let mut all = vec![x];
                all.extend(items);
                let mut nodes = self.unify(all, "IN")?.0;
                let expr = nodes.remove(0);
                typed(Node::InList {
                    expr: Box::new(expr),
                    list: nodes,
                    negated: *negated,
                })
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.check(expr);
                let lo = self.check(low);
                let hi = self.check(high);
                let (x, lo, hi) = (x?, lo?, hi?);
                let mut nodes = self.unify(vec![x, lo, hi], "BETWEEN")?.0;
                let hi = nodes.pop()?;
                let lo = nodes.pop()?;
                let x = nodes.pop()?;
                let both = Node::And(
                    Box::new(Node::Cmp {
                        op: CmpOp::GtEq,
                        left: Box::new(x.clone()),
                        right: Box::new(lo),
                    }),
                    Box::new(Node::Cmp {
                        op: CmpOp::LtEq,
                        left: Box::new(x),
                        right: Box::new(hi),
                    }),
                );
                typed(if *negated {
                    Node::Not(Box::new(both))
                } else {
                    both
                })
            }
            Expr::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            }
            | Expr::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any || escape_char.is_some() {
                    self.error(at, "LIKE ANY and ESCAPE are not supported");
                }
                let x = self.check(expr);
                let p = self.check(pattern);
                let x = x.and_then(|x| self.expect(x, ColumnType::Str, "LIKE"));
                let p = p.and_then(|p| self.expect(p, ColumnType::Str, "a LIKE pattern"));
                typed(Node::Like {
                    expr: Box::new(x?),
                    pattern: Box::new(p?),
                    negated: *negated,
                    case_insensitive: matches!(e, Expr::ILike { .. }),
                })
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref(), at),
            Expr::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if format.is_some() {
                    self.error(at, "CAST ... FORMAT is not supported");
                }
                let _ = kind; // CAST and TRY_CAST both give NULL for values that do not convert.
                let x = self.check(expr);
                let to = self.data_type(data_type, at)?;
                self.cast(x?, to, at).map(|node| Typed {
                    node,
                    ty: Some(to),
                    at,
                })
            }
            Expr::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                if trim_what.is_some() || trim_characters.is_some() {
                    self.error(at, "trim takes one argument (the string)");
                }
                let func = match trim_where {
                    None | Some(ast::TrimWhereField::Both) => Func::Trim,
                    Some(ast::TrimWhereField::Leading) => Func::Ltrim,
                    Some(ast::TrimWhereField::Trailing) => Func::Rtrim,
                };
                let x = self.check(expr)?;
                let x = self.expect(x, ColumnType::Str, "trim")?;
                typed(Node::Call {
                    func,
                    args: vec![x],
                    ty: ColumnType::Str,
                })
            }
            Expr::Function(f) => self.function(f, at),
            _ => {
                self.error(at, format!("`{e}` is not supported in expressions"));
                None
            }
        }
    }

    fn column(&mut self, id: &ast::Ident) -> Option<Typed> {
        let at = position(id.span);
        let cols = &self.schema.columns;
        let found = cols.iter().position(|c| c.name == id.value).or_else(|| {
            // Unquoted names match regardless of case when that is unambiguous (Spark's rule).
            if id.quote_style.is_some() {
                return None;
            }
            let mut it = cols
                .iter()
                .enumerate()
                .filter(|(_, c)| c.name.eq_ignore_ascii_case(&id.value));
            match (it.next(), it.next()) {
                (Some((i, _)), None) => Some(i),
                _ => None,
            }
        });
        match found {
            Some(index) => {
                let c = &cols[index];
                Some(Typed {
                    node: Node::Column {
                        index,
                        ty: c.ty,
                        nullable: c.nullable,
                    },
                    ty: Some(c.ty),
                    at,
                })
            }
            None => {
                let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
                let message = match closest(&id.value, &names) {
                    Some(s) => format!("unknown column `{}` (did you mean `{s}`?)", id.value),
                    None => format!(
                        "unknown column `{}` (columns: {})",
                        id.value,
                        names.join(", ")
                    ),
                };
                self.error(at, message);
                None
            }
        }
    }

    fn literal(&mut self, v: &ast::Value, at: Option<(u64, u64)>) -> Option<Typed> {
        let lit = match v {
            ast::Value::Null => {
                return Some(Typed {
                    node: Node::Literal(Lit::Null(ColumnType::Str)),
                    ty: None,
                    at,
                })
            }
            ast::Value::Boolean(b) => Lit::Bool(*b),
            ast::Value::Number(s, _) => match s.parse::<i64>() {
                Ok(i) => Lit::Int(i),
                Err(_) => match s.parse::<f64>() {
                    Ok(f) if f.is_finite() => Lit::Float(f),
                    _ => {
                        self.error(at, format!("`{s}` is not a number this engine can hold"));
                        return None;
                    }
                },
            },
            ast::Value::SingleQuotedString(s) => Lit::Str(s.clone()),
            ast::Value::DoubleQuotedString(s) => Lit::Str(s.clone()),
            other => {
                self.error(at, format!("literal `{other}` is not supported"));
                return None;
            }
        };
        let ty = Some(lit.ty());
        Some(Typed {
            node: Node::Literal(lit),
            ty,
            at,
        })
    }

    fn data_type(&mut self, t: &DataType, at: Option<(u64, u64)>) -> Option<ColumnType> {
        Some(match t {
            DataType::Boolean | DataType::Bool => ColumnType::Bool,
            DataType::Int(_)
            | DataType::Integer(_)
            | DataType::BigInt(_)
            | DataType::Int64
            | DataType::SmallInt(_)
            | DataType::TinyInt(_) => ColumnType::Int,
            DataType::Float(_)
            | DataType::Double(_)
            | DataType::Real
            | DataType::Float64
            | DataType::DoublePrecision => ColumnType::Float,
            DataType::String(_) | DataType::Text | DataType::Varchar(_) | DataType::Char(_) => {
                ColumnType::Str
            }
            DataType::Timestamp(..) | DataType::Datetime(_) => ColumnType::Timestamp,
            DataType::Date => ColumnType::Date,
            other => {
                self.error(
                    at,
                    format!("type `{other}` is not supported (boolean, bigint, double, string, timestamp, date)"),
                );
                return None;
            }
        })
    }

    /// `t` coerced to `want`, or an error naming `what`.
    fn expect(&mut self, t: Typed, want: ColumnType, what: &str) -> Option<Node> {
        match t.ty {
            None => Some(Node::Literal(Lit::Null(want))),
            Some(ty) if ty == want => Some(t.node),
            Some(ColumnType::Int) if want == ColumnType::Float => Some(Node::Cast {
                expr: Box::new(t.node),
                to: ColumnType::Float,
            }),
            Some(ty) => {
                // A string constant where a time is expected is read as one.
                if let Node::Literal(Lit::Str(s)) = &t.node {
                    if let Some(l) = literal_of(want, s) {
                        return Some(Node::Literal(l));
                    }
                }
                self.error(
                    t.at,
                    format!(
                        "{what} needs {}, found {}",
                        article(want),
                        type_name(Some(ty))
                    ),
                );
                None
            }
        }
    }

    fn numeric(&mut self, t: Typed, what: &str) -> Option<(Node, ColumnType)> {
        match t.ty {
            None => Some((Node::Literal(Lit::Null(ColumnType::Int)), ColumnType::Int)),
            Some(ty) if is_numeric(ty) => Some((t.node, ty)),
            Some(ty) => {
                self.error(
                    t.at,
                    format!("{what} needs a number, found {}", type_name(Some(ty))),
                );
                None
            }
        }
    }

    /// Brings all operands to one type (for comparisons, IN, CASE results, coalesce).
    fn unify(&mut self, items: Vec<Typed>, what: &str) -> Option<(Vec<Node>, ColumnType)> {
        let mut target: Option<ColumnType> = None;
        // Columns and computed values decide the type before constants do, so that
        // `event_ts > '2026-01-01T00:00:00Z'` reads the string as a timestamp.
        for pass in [false, true] {
            for t in &items {
                let is_const_str = matches!(t.node, Node::Literal(Lit::Str(_)));
                if is_const_str != pass {
                    continue;
                }
                target = match (target, t.ty) {
                    (cur, None) => cur,
                    (None, Some(x)) => Some(x),
                    (Some(a), Some(b)) if a == b => Some(a),
                    (Some(a), Some(b)) if is_numeric(a) && is_numeric(b) => Some(ColumnType::Float),
                    (Some(a), Some(ColumnType::Str)) if pass => Some(a),
                    (Some(a), Some(b)) => {
                        self.error(
                            t.at,
                            format!(
                                "{what}: cannot compare {} with {}",
                                type_name(Some(a)),
                                type_name(Some(b))
                            ),
                        );
                        return None;
                    }
                };
            }
        }
        let target = target.unwrap_or(ColumnType::Str);
        let mut out = Vec::with_capacity(items.len());
        for t in items {
            out.push(self.expect(t, target, what)?);
        }
        Some((out, target))
    }

    fn binary(
        &mut self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
        at: Option<(u64, u64)>,
    ) -> Option<Typed> {
        let l = self.check(left);
        let r = self.check(right);
        let typed = |node: Node| {
            let ty = Some(node.ty());
            Some(Typed { node, ty, at })
        };
        let cmp = match op {
            BinaryOperator::Eq => Some(CmpOp::Eq),
            BinaryOperator::NotEq => Some(CmpOp::NotEq),
            BinaryOperator::Lt => Some(CmpOp::Lt),
            BinaryOperator::LtEq => Some(CmpOp::LtEq),
            BinaryOperator::Gt => Some(CmpOp::Gt),
            BinaryOperator::GtEq => Some(CmpOp::GtEq),
            _ => None,
        };
        if let Some(cmp) = cmp {
            let mut nodes = self.unify(vec![l?, r?], "comparison")?.0;
            let right = nodes.pop()?;
            let left = nodes.pop()?;
            return typed(Node::Cmp {
                op: cmp,
                left: Box::new(left),
                right: Box::new(right),
            });
        }
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let what = format!("{op}");
                let l = l.and_then(|l| self.expect(l, ColumnType::Bool, &what));
                let r = r.and_then(|r| self.expect(r, ColumnType::Bool, &what));
                let (l, r) = (Box::new(l?), Box::new(r?));
                typed(if *op == BinaryOperator::And {
                    Node::And(l, r)
                } else {
                    Node::Or(l, r)
                })
            }
            BinaryOperator::StringConcat => {
                let l = l.and_then(|l| self.stringify(l));
                let r = r.and_then(|r| self.stringify(r));
                typed(Node::Call {
                    func: Func::Concat,
                    args: vec![l?, r?],
                    ty: ColumnType::Str,
                })
            }
            BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Divide
            | BinaryOperator::Modulo => {
                let what = format!("`{op}`");
                let l = l.and_then(|l| self.numeric(l, &what));
                let r = r.and_then(|r| self.numeric(r, &what));
                let ((l, lt), (r, rt)) = (l?, r?);
                let aop = match op {
                    BinaryOperator::Plus => ArithOp::Add,
                    BinaryOperator::Minus => ArithOp::Sub,
                    BinaryOperator::Multiply => ArithOp::Mul,
                    BinaryOperator::Divide => ArithOp::Div,
                    _ => ArithOp::Rem,
                };
                let ty =
                    if aop == ArithOp::Div || lt == ColumnType::Float || rt == ColumnType::Float {
                        ColumnType::Float
                    } else {
                        ColumnType::Int
                    };
                let widen = |n: Node, t: ColumnType| {
                    if t == ty {
                        n
                    } else {
                        Node::Cast {
                            expr: Box::new(n),
                            to: ty,
                        }
                    }
                };
                typed(Node::Arith {
                    op: aop,
                    left: Box::new(widen(l, lt)),
                    right: Box::new(widen(r, rt)),
                    ty,
                })
            }
            other => {
                self.error(at, format!("operator `{other}` is not supported"));
                None
            }
        }
    }

    fn stringify(&mut self, t: Typed) -> Option<Node> {
        match t.ty {
            None => Some(Node::Literal(Lit::Null(ColumnType::Str))),
            Some(ColumnType::Str) => Some(t.node),
            Some(_) => Some(Node::Cast {
                expr: Box::new(t.node),
                to: ColumnType::Str,
            }),
        }
    }

    fn cast(&mut self, t: Typed, to: ColumnType, at: Option<(u64, u64)>) -> Option<Node> {
        let Some(from) = t.ty else {
            return Some(Node::Literal(Lit::Null(to)));
        };
        use ColumnType::*;
        let ok = from == to
            || from == Str
            || to == Str
            || (is_numeric(from) && is_numeric(to))
            || matches!(
                (from, to),
                (Bool, Int)
                    | (Int, Bool)
                    | (Int, Timestamp)
                    | (Timestamp, Int)
                    | (Timestamp, Date)
                    | (Date, Timestamp)
            );
        if !ok {
            self.error(
                at,
                format!(
                    "cannot cast {} to {}",
                    type_name(Some(from)),
                    type_name(Some(to))
                ),
            );
            return None;
        }
        if from == to {
            return Some(t.node);
        }
        Some(Node::Cast {
            expr: Box::new(t.node),
            to,
        })
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        conditions: &[ast::CaseWhen],
        else_result: Option<&Expr>,
        at: Option<(u64, u64)>,
    ) -> Option<Typed> {
        let operand = operand.map(|o| self.check(o));
        let mut conds = Vec::new();
        let mut results = Vec::new();
        let mut failed = matches!(operand, Some(None));
        for w in conditions {
            let c = self.check(&w.condition);
            let r = self.check(&w.result);
            match (c, r) {
                (Some(c), Some(r)) => {
                    conds.push(c);
                    results.push(r);
                }
                _ => failed = true,
            }
        }
        let otherwise = match else_result {
            Some(e) => {
                let t = self.check(e);
                failed |= t.is_none();
                t
            }
            None => Some(Typed {
                node: Node::Literal(Lit::Null(ColumnType::Str)),
                ty: None,
                at,
            }),
        };
        if failed {
            return None;
        }
        // `CASE x WHEN v THEN ...` compares x = v for each branch.
        let conds: Vec<Node> = match operand.flatten() {
            Some(op) => {
                let mut all = vec![op];
                all.extend(conds);
                let mut nodes = self.unify(all, "CASE")?.0;
                let x = nodes.remove(0);
                nodes
                    .into_iter()
                    .map(|v| Node::Cmp {
                        op: CmpOp::Eq,
                        left: Box::new(x.clone()),
                        right: Box::new(v),
                    })
                    .collect()
            }
            None => {
                let mut out = Vec::new();
                for c in conds {
                    out.push(self.expect(c, ColumnType::Bool, "a WHEN condition")?);
                }
                out
            }
        };
        results.push(otherwise?);
        let (mut nodes, ty) = self.unify(results, "CASE results")?;
        let otherwise = nodes.pop()?;
        Some(Typed {
            node: Node::Case {
                branches: conds.into_iter().zip(nodes).collect(),
                otherwise: Box::new(otherwise),
                ty,
            },
            ty: Some(ty),
            at,
        })
    }

    fn function(&mut self, f: &ast::Function, at: Option<(u64, u64)>) -> Option<Typed> {
        let name = f.name.to_string().to_ascii_lowercase();
        let mut args = Vec::new();
        match &f.args {
            FunctionArguments::List(list) => {
                if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                    self.error(
                        at,
                        format!("`{name}`: DISTINCT and clauses are not supported here"),
                    );
                }
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(self.check(e)),
                        _ => {
                            self.error(at, format!("`{name}`: arguments are plain expressions"));
                            args.push(None);
                        }
                    }
                }
            }
            FunctionArguments::None => {}
            FunctionArguments::Subquery(_) => {
                self.error(at, "subqueries are not supported");
                return None;
            }
        }
        if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
            self.error(
                at,
                format!("`{name}`: FILTER, OVER and WITHIN GROUP are not supported here"),
            );
        }
        let func = match name.as_str() {
            "coalesce" => Func::Coalesce,
            "lower" | "lcase" => Func::Lower,
            "upper" | "ucase" => Func::Upper,
            "trim" | "btrim" => Func::Trim,
            "ltrim" => Func::Ltrim,
            "rtrim" => Func::Rtrim,
            "length" | "char_length" | "character_length" => Func::Length,
            "concat" => Func::Concat,
            "round" => Func::Round,
            "abs" => Func::Abs,
            "isfinite" => Func::IsFinite,
            "to_timestamp" => Func::ToTimestamp,
            "to_date" => Func::ToDate,
            "count" | "sum" | "min" | "max" | "avg" | "approx_distinct" | "count_distinct"
            | "first" | "last" => {
                self.error(
                    at,
                    format!(
                        "`{name}` is an aggregate: declare it in a window_aggregate's `aggregates`"
                    ),
                );
                return None;
            }
            _ => {
                self.error(
                    at,
                    format!(
                        "unknown function `{name}` (functions: coalesce, lower, upper, trim, ltrim, rtrim, length, concat, round, abs, isfinite, to_timestamp, to_date, cast, try_cast)"
                    ),
                );
                return None;
            }
        };
        let args: Vec<Typed> = args.into_iter().collect::<Option<_>>()?;
        let arity = |this: &mut Self, lo: usize, hi: usize| {
            let ok = args.len() >= lo && args.len() <= hi;
            if !ok {
                let want = if lo == hi {
                    format!("{lo}")
                } else if hi == usize::MAX {
                    format!("at least {lo}")
                } else {
                    format!("{lo} to {hi}")
                };
                this.error(
                    at,
                    format!("`{name}` takes {want} argument(s), found {}", args.len()),
                );
            }
            ok
        };
        let typed = |func: Func, args: Vec<Node>, ty: ColumnType| {
            Some(Typed {
                node: Node::Call { func, args, ty },
                ty: Some(ty),
                at,
            })
        };
        match func {
            Func::Coalesce => {
                if !arity(self, 1, usize::MAX) {
                    return None;
                }
                let (nodes, ty) = self.unify(args, "coalesce")?;
                typed(func, nodes, ty)
            }
            Func::Lower | Func::Upper | Func::Trim | Func::Ltrim | Func::Rtrim | Func::Length => {
                if !arity(self, 1, 1) {
                    return None;
                }
                let a = self.expect(args.into_iter().next()?, ColumnType::Str, &name)?;
                let ty = if func == Func::Length {
                    ColumnType::Int
                } else {
                    ColumnType::Str
                };
                typed(func, vec![a], ty)
            }
            Func::Concat => {
                if !arity(self, 1, usize::MAX) {
                    return None;
                }
                let nodes: Vec<Node> = args
                    .into_iter()
                    .map(|a| self.stringify(a))
                    .collect::<Option<_>>()?;
                typed(func, nodes, ColumnType::Str)
            }
            Func::Round => {
                if !arity(self, 1, 2) {
                    return None;
                }
                let mut it = args.into_iter();
                let (x, ty) = self.numeric(it.next()?, "round")?;
                let mut nodes = vec![x];
                if let Some(d) = it.next() {
                    match d.node {
                        Node::Literal(Lit::Int(digits)) if (-18..=18).contains(&digits) => {
                            nodes.push(Node::Literal(Lit::Int(digits)))
                        }
                        _ => {
                            self.error(
                                d.at,
                                "round: the digits are an integer constant between -18 and 18",
                            );
                            return None;
                        }
                    }
                }
                typed(func, nodes, ty)
            }
            Func::Abs => {
                if !arity(self, 1, 1) {
                    return None;
                }
                let (x, ty) = self.numeric(args.into_iter().next()?, "abs")?;
                typed(func, vec![x], ty)
            }
            Func::IsFinite => {
                if !arity(self, 1, 1) {
                    return None;
                }
                let (x, _) = self.numeric(args.into_iter().next()?, "isfinite")?;
                let x = match x.ty() {
                    ColumnType::Float => x,
                    _ => Node::Cast {
                        expr: Box::new(x),
                        to: ColumnType::Float,
                    },
                };
                typed(func, vec![x], ColumnType::Bool)
            }
            Func::ToTimestamp | Func::ToDate => {
                if !arity(self, 1, 1) {
                    return None;
                }
                let to = if func == Func::ToDate {
                    ColumnType::Date
                } else {
                    ColumnType::Timestamp
                };
                let a = args.into_iter().next()?;
                let from = a.ty;
                let ok = matches!(
                    from,
                    None | Some(ColumnType::Str)
                        | Some(ColumnType::Timestamp)
                        | Some(ColumnType::Date)
                ) || (func == Func::ToTimestamp && from == Some(ColumnType::Int));
                if !ok {
                    self.error(
                        a.at,
                        format!(
                            "{name} takes a string, a timestamp or a date{}, found {}",
                            if func == Func::ToTimestamp {
                                " or epoch milliseconds (bigint)"
                            } else {
                                ""
                            },
                            type_name(from)
                        ),
                    );
                    return None;
                }
                let at_arg = a.at;
                let node = self.cast(a, to, at_arg)?;
                Some(Typed {
                    node,
                    ty: Some(to),
                    at,
                })
            }
        }
    }
}

fn article(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Bool => "a boolean",
        ColumnType::Int => "a bigint",
        ColumnType::Float => "a double",
        ColumnType::Str => "a string",
        ColumnType::Timestamp => "a timestamp",
        ColumnType::Date => "a date",
    }
}

/// A constant of type `ty` written as text (`TIMESTAMP '...'`, or a string compared with a time).
pub(crate) fn literal_of(ty: ColumnType, s: &str) -> Option<Lit> {
    let s = s.trim();
    Some(match ty {
        ColumnType::Str => Lit::Str(s.to_string()),
        ColumnType::Timestamp => Lit::Timestamp(crate::value::parse_timestamp(s)?),
        ColumnType::Date => Lit::Date(parse_date(s)?),
        ColumnType::Int => Lit::Int(s.parse().ok()?),
        ColumnType::Float => Lit::Float(s.parse().ok()?),
        ColumnType::Bool => Lit::Bool(match s.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return None,
        }),
    })
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo.
fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| {
            (
                strsim::levenshtein(&name.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                *c,
            )
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
