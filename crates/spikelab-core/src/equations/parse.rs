//! The parser of the equation language: a pest grammar (`grammar.pest`) and the
//! expression trees it produces. Each equation line, reset statement, threshold and
//! quantity is parsed on its own, so an error names the text it came from.

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use std::sync::OnceLock;

mod grammar {
    #![allow(missing_docs)]
    #[derive(pest_derive::Parser)]
    #[grammar = "equations/grammar.pest"]
    pub struct Grammar;
}
use grammar::{Grammar, Rule};

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `**`
    Pow,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `and`
    And,
    /// `or`
    Or,
}

impl BinOp {
    /// Whether the operator compares two numbers.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
        )
    }
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `not x`
    Not,
}

/// An expression node with the text it was parsed from.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Its source text (for messages).
    pub text: String,
}

/// The kinds of expression nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A dimensionless literal.
    Number(f64),
    /// A variable, parameter, constant or unit name.
    Name(String),
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A function call.
    Call(String, Vec<Expr>),
}

impl Expr {
    /// A node built by the compiler (not parsed), with the given display text.
    pub fn synth(kind: ExprKind, text: impl Into<String>) -> Expr {
        Expr {
            kind,
            text: text.into(),
        }
    }

    /// A literal.
    pub fn number(x: f64) -> Expr {
        Expr::synth(ExprKind::Number(x), format!("{x}"))
    }

    /// A name.
    pub fn name(n: &str) -> Expr {
        Expr::synth(ExprKind::Name(n.to_string()), n)
    }

    /// Whether `name` occurs in the expression.
    pub fn mentions(&self, name: &str) -> bool {
        match &self.kind {
            ExprKind::Number(_) => false,
            ExprKind::Name(n) => n == name,
            ExprKind::Unary(_, a) => a.mentions(name),
            ExprKind::Binary(_, a, b) => a.mentions(name) || b.mentions(name),
            ExprKind::Call(_, args) => args.iter().any(|a| a.mentions(name)),
        }
    }

    /// Every name in the expression, in order of appearance (with repeats).
    pub fn names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match &self.kind {
            ExprKind::Number(_) => {}
            ExprKind::Name(n) => out.push(n),
            ExprKind::Unary(_, a) => a.names(out),
            ExprKind::Binary(_, a, b) => {
                a.names(out);
                b.names(out);
            }
            ExprKind::Call(_, args) => args.iter().for_each(|a| a.names(out)),
        }
    }
}

/// One line of an `equations` block.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// `dx/dt = expr : unit (flags)`
    Differential {
        /// The variable.
        var: String,
        /// Right-hand side.
        rhs: Expr,
        /// Unit of the variable.
        unit: Expr,
        /// Flags such as `unless refractory`.
        flags: Vec<String>,
    },
    /// `x = expr : unit`
    Subexpression {
        /// Its name.
        name: String,
        /// Its definition.
        rhs: Expr,
        /// Its unit.
        unit: Expr,
        /// Flags.
        flags: Vec<String>,
    },
    /// `x : unit (constant)`: a per-neuron parameter.
    Parameter {
        /// Its name.
        name: String,
        /// Its unit.
        unit: Expr,
        /// Flags.
        flags: Vec<String>,
    },
}

/// How a statement assigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
}

/// A statement of a reset (`v = v_reset`, `w += b`).
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The variable assigned.
    pub var: String,
    /// How.
    pub op: AssignOp,
    /// The value.
    pub value: Expr,
    /// Source text.
    pub text: String,
}

fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::or, Assoc::Left))
            .op(Op::infix(Rule::and, Assoc::Left))
            .op(Op::prefix(Rule::not))
            .op(Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::le, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::ge, Assoc::Left)
                | Op::infix(Rule::eq, Assoc::Left)
                | Op::infix(Rule::ne, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
            .op(Op::prefix(Rule::neg) | Op::prefix(Rule::pos))
            .op(Op::infix(Rule::pow, Assoc::Right))
    })
}

fn build_expr(pair: Pair<Rule>) -> Expr {
    let text = pair.as_str().trim().to_string();
    let mut e = build_pratt(pair.into_inner());
    e.text = text;
    e
}

fn build_pratt(pairs: Pairs<Rule>) -> Expr {
    pratt()
        .map_primary(|p| {
            let text = p.as_str().trim().to_string();
            match p.as_rule() {
                Rule::number => Expr {
                    kind: ExprKind::Number(p.as_str().parse().unwrap_or(f64::NAN)),
                    text,
                },
                Rule::ident => Expr {
                    kind: ExprKind::Name(text.clone()),
                    text,
                },
                Rule::paren => {
                    let inner = p.into_inner().next().expect("paren holds an expr");
                    let mut e = build_expr(inner);
                    e.text = text;
                    e
                }
                Rule::call => {
                    let mut it = p.into_inner();
                    let name = it.next().expect("call has a name").as_str().to_string();
                    let args = it.map(build_expr).collect();
                    Expr {
                        kind: ExprKind::Call(name, args),
                        text,
                    }
                }
                Rule::expr => build_expr(p),
                r => unreachable!("primary {r:?}"),
            }
        })
        .map_prefix(|op, rhs| {
            let text = format!("{}{}", op.as_str(), rhs.text);
            let kind = match op.as_rule() {
                Rule::neg => ExprKind::Unary(UnOp::Neg, Box::new(rhs)),
                Rule::not => ExprKind::Unary(UnOp::Not, Box::new(rhs)),
                Rule::pos => return rhs,
                r => unreachable!("prefix {r:?}"),
            };
            Expr { kind, text }
        })
        .map_infix(|lhs, op, rhs| {
            let bop = match op.as_rule() {
                Rule::add => BinOp::Add,
                Rule::sub => BinOp::Sub,
                Rule::mul => BinOp::Mul,
                Rule::div => BinOp::Div,
                Rule::pow => BinOp::Pow,
                Rule::lt => BinOp::Lt,
                Rule::le => BinOp::Le,
                Rule::gt => BinOp::Gt,
                Rule::ge => BinOp::Ge,
                Rule::eq => BinOp::Eq,
                Rule::ne => BinOp::Ne,
                Rule::and => BinOp::And,
                Rule::or => BinOp::Or,
                r => unreachable!("infix {r:?}"),
            };
            let sep = if matches!(bop, BinOp::Mul | BinOp::Div | BinOp::Pow) {
                ""
            } else {
                " "
            };
            let text = format!("{}{sep}{}{sep}{}", lhs.text, op.as_str(), rhs.text);
            Expr {
                kind: ExprKind::Binary(bop, Box::new(lhs), Box::new(rhs)),
                text,
            }
        })
        .parse(pairs)
}

/// A parse error as one line: what was expected where.
fn describe(e: pest::error::Error<Rule>, text: &str) -> String {
    let col = match e.line_col {
        pest::error::LineColLocation::Pos((_, c)) => c,
        pest::error::LineColLocation::Span((_, c), _) => c,
    };
    let rest: String = text.chars().skip(col.saturating_sub(1)).collect();
    let what = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives
                .iter()
                .filter_map(|r| match r {
                    Rule::ident => Some("a name"),
                    Rule::number => Some("a number"),
                    Rule::expr => Some("an expression"),
                    Rule::unit | Rule::unit_atom => Some("a unit"),
                    Rule::assign_op => Some("`=`, `+=`, `-=`, `*=` or `/=`"),
                    Rule::EOI => Some("the end"),
                    Rule::flags => Some("flags in parentheses"),
                    _ => None,
                })
                .collect();
            names.dedup();
            if names.is_empty() {
                "syntax error".to_string()
            } else {
                format!("expected {}", names.join(" or "))
            }
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    if rest.trim().is_empty() {
        format!("{what} at the end of `{text}`")
    } else {
        format!(
            "{what} at column {col} of `{text}` (before `{}`)",
            rest.trim()
        )
    }
}

fn flags_of(p: Option<Pair<Rule>>) -> Vec<String> {
    p.map(|f| {
        f.into_inner()
            .map(|flag| {
                flag.into_inner()
                    .map(|w| w.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    })
    .unwrap_or_default()
}

/// A unit (`nS/cm**2`) as an expression tree of products, quotients and powers.
fn unit_of(p: Pair<Rule>) -> Expr {
    let text = p.as_str().trim().to_string();
    let mut it = p.into_inner();
    let mut acc = unit_atom(it.next().expect("a unit has an atom"));
    while let Some(op) = it.next() {
        let rhs = unit_atom(it.next().expect("an operator has a right side"));
        let bop = if op.as_rule() == Rule::mul {
            BinOp::Mul
        } else {
            BinOp::Div
        };
        let t = format!("{}{}{}", acc.text, op.as_str(), rhs.text);
        acc = Expr::synth(ExprKind::Binary(bop, Box::new(acc), Box::new(rhs)), t);
    }
    acc.text = text;
    acc
}

fn unit_atom(p: Pair<Rule>) -> Expr {
    let text = p.as_str().trim().to_string();
    let mut it = p.into_inner();
    let first = it.next().expect("an atom");
    let base = match first.as_rule() {
        Rule::number => Expr::number(first.as_str().parse().unwrap_or(f64::NAN)),
        Rule::ident => Expr::name(first.as_str()),
        _ => unit_of(first),
    };
    let Some(_pow) = it.next() else { return base };
    let power = it.next().expect("a power");
    let p: f64 = power.as_str().replace(' ', "").parse().unwrap_or(f64::NAN);
    Expr::synth(
        ExprKind::Binary(BinOp::Pow, Box::new(base), Box::new(Expr::number(p))),
        text,
    )
}

/// Parses one line of an `equations` block.
pub fn parse_line(text: &str) -> Result<Line, String> {
    let mut pairs = Grammar::parse(Rule::line, text).map_err(|e| describe(e, text))?;
    let line = pairs
        .next()
        .expect("line")
        .into_inner()
        .next()
        .expect("kind");
    let rule = line.as_rule();
    let mut it = line.into_inner();
    Ok(match rule {
        Rule::differential => {
            let deriv = it.next().expect("deriv");
            let var = deriv.into_inner().next().expect("var").as_str().to_string();
            let rhs = build_expr(it.next().expect("rhs"));
            let unit = unit_of(it.next().expect("unit"));
            Line::Differential {
                var,
                rhs,
                unit,
                flags: flags_of(it.next()),
            }
        }
        Rule::subexpression => {
            let name = it.next().expect("name").as_str().to_string();
            let rhs = build_expr(it.next().expect("rhs"));
            let unit = unit_of(it.next().expect("unit"));
            Line::Subexpression {
                name,
                rhs,
                unit,
                flags: flags_of(it.next()),
            }
        }
        Rule::parameter => {
            let name = it.next().expect("name").as_str().to_string();
            let unit = unit_of(it.next().expect("unit"));
            Line::Parameter {
                name,
                unit,
                flags: flags_of(it.next()),
            }
        }
        r => unreachable!("line kind {r:?}"),
    })
}

/// Parses one statement (`w += b`).
pub fn parse_statement(text: &str) -> Result<Statement, String> {
    let mut pairs = Grammar::parse(Rule::statement, text).map_err(|e| describe(e, text))?;
    let mut it = pairs.next().expect("statement").into_inner();
    let var = it.next().expect("var").as_str().to_string();
    let op = match it.next().expect("op").as_str() {
        "=" => AssignOp::Set,
        "+=" => AssignOp::Add,
        "-=" => AssignOp::Sub,
        "*=" => AssignOp::Mul,
        _ => AssignOp::Div,
    };
    let value = build_expr(it.next().expect("value"));
    Ok(Statement {
        var,
        op,
        value,
        text: text.trim().to_string(),
    })
}

/// Parses a condition (`v > v_th`).
pub fn parse_condition(text: &str) -> Result<Expr, String> {
    let mut pairs = Grammar::parse(Rule::condition, text).map_err(|e| describe(e, text))?;
    Ok(build_expr(
        pairs
            .next()
            .expect("condition")
            .into_inner()
            .next()
            .expect("expr"),
    ))
}

/// Parses a quantity (`20 ms`, `-60*mV`, `0.1`) into its number and unit expression.
pub fn parse_quantity(text: &str) -> Result<(f64, Option<Expr>), String> {
    let mut pairs = Grammar::parse(Rule::quantity, text).map_err(|e| describe(e, text))?;
    let mut sign = 1.0;
    let mut value = 0.0;
    let mut unit = None;
    for p in pairs.next().expect("quantity").into_inner() {
        match p.as_rule() {
            Rule::sub => sign = -1.0,
            Rule::number => value = p.as_str().parse().unwrap_or(f64::NAN),
            Rule::unit => unit = Some(unit_of(p)),
            _ => {}
        }
    }
    Ok((sign * value, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_differential_equation_with_flags() {
        let l = parse_line("dv/dt = (v_rest - v + g_e*(e_e - v)) / tau_m : mV (unless refractory)")
            .unwrap();
        let Line::Differential {
            var,
            rhs,
            unit,
            flags,
        } = l
        else {
            panic!("{l:?}")
        };
        assert_eq!(var, "v");
        assert_eq!(flags, vec!["unless refractory".to_string()]);
        assert_eq!(unit.kind, ExprKind::Name("mV".into()));
        let ExprKind::Binary(BinOp::Div, num, den) = &rhs.kind else {
            panic!("{rhs:?}")
        };
        assert_eq!(num.text, "(v_rest - v + g_e*(e_e - v))");
        assert_eq!(den.text, "tau_m");
    }

    #[test]
    fn precedence_follows_python() {
        let e = parse_condition("-x**2 + 3*y > 1 and not z < 2").unwrap();
        let ExprKind::Binary(BinOp::And, l, r) = &e.kind else {
            panic!("{e:?}")
        };
        let ExprKind::Binary(BinOp::Gt, sum, _) = &l.kind else {
            panic!("{l:?}")
        };
        let ExprKind::Binary(BinOp::Add, neg, _) = &sum.kind else {
            panic!("{sum:?}")
        };
        let ExprKind::Unary(UnOp::Neg, p) = &neg.kind else {
            panic!("{neg:?}")
        };
        assert!(matches!(p.kind, ExprKind::Binary(BinOp::Pow, _, _)));
        assert!(matches!(r.kind, ExprKind::Unary(UnOp::Not, _)));
        let e = parse_condition("2**3**2").unwrap();
        let ExprKind::Binary(BinOp::Pow, _, r) = &e.kind else {
            panic!()
        };
        assert!(matches!(r.kind, ExprKind::Binary(BinOp::Pow, _, _)));
    }

    #[test]
    fn parses_other_lines_statements_and_quantities() {
        assert!(matches!(
            parse_line("I = g*(E - v) : amp").unwrap(),
            Line::Subexpression { .. }
        ));
        assert!(matches!(
            parse_line("tau : second (constant)").unwrap(),
            Line::Parameter { .. }
        ));
        let s = parse_statement("w += b").unwrap();
        assert_eq!((s.var.as_str(), s.op), ("w", AssignOp::Add));
        assert_eq!(parse_quantity("-60 mV").unwrap().0, -60.0);
        assert_eq!(parse_quantity("0.5").unwrap(), (0.5, None));
        let (x, u) = parse_quantity("5e-1*nS/cm**2").unwrap();
        assert_eq!(x, 0.5);
        assert_eq!(u.unwrap().text, "nS/cm**2");
        assert!(parse_quantity("20 ms ms").is_err());
    }

    #[test]
    fn errors_say_where() {
        let e = parse_line("dv/dt = (v_rest - v / tau : mV").unwrap_err();
        assert!(e.contains("dv/dt = (v_rest - v / tau : mV"), "{e}");
        let e = parse_statement("v := 3").unwrap_err();
        assert!(e.contains("column"), "{e}");
        assert!(parse_line("dv/dt = 1 +").is_err());
    }
}
