//! F2.2–F2.4: the filter of the dialog list as a small expression tree, checked against its
//! bounds once ([`Filter::new`]) and compiled into one parameterised SQL condition over
//! `dialog_row d` and the dialogs projection's own membership tables. Values are always bound
//! parameters, never part of the SQL text.

use super::schema;
use crate::blobid::BlobId;
use rusqlite::types::Value;
use switchboard_schemas::{ChannelId, ListId, OperatorId, StageId, TagId, Timestamp};

/// Deepest nesting of groups and conditions: a root group, a group inside it, its conditions.
pub const MAX_DEPTH: usize = 4;
/// Most nodes (groups and conditions) in one filter.
pub const MAX_NODES: usize = 64;
/// Most ids or names in one condition.
pub const MAX_VALUES: usize = 100;
/// Longest text value (funnel block, variable name or value), in bytes.
pub const MAX_TEXT: usize = 4096;
/// Longest client number pattern, in digits (an `i64` has 19).
pub const MAX_NUMBER_DIGITS: usize = 19;
/// The granularity of the activity filter: messages are recorded per 15-minute bucket, which is
/// exact for day boundaries in every time zone (all offsets are whole quarter hours).
pub const ACTIVITY_BUCKET_MICROS: i64 = 15 * 60 * 1_000_000;

/// The bucket of the activity table a moment falls into.
pub fn activity_bucket(at: Timestamp) -> i64 {
    at.as_micros().div_euclid(ACTIVITY_BUCKET_MICROS)
}

/// The first and last activity bucket holding any moment of `[from, to)`; none when empty.
pub(crate) fn bucket_range(from: Timestamp, to: Timestamp) -> Option<(i64, i64)> {
    if to <= from {
        return None;
    }
    let end = Timestamp::from_micros(to.as_micros().saturating_sub(1));
    Some((activity_bucket(from), activity_bucket(end)))
}

/// Who wrote a dialog's last message (F2.3). Internal notes are not messages: a note after the
/// client's message leaves the author *client*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthorKind {
    Client,
    Operator,
    Bot,
}

impl AuthorKind {
    /// The stored code (`dialog_row.last_sender`).
    pub(crate) fn code(self) -> i64 {
        match self {
            AuthorKind::Client => super::schema::AUTHOR_CLIENT,
            AuthorKind::Operator => super::schema::AUTHOR_OPERATOR,
            AuthorKind::Bot => super::schema::AUTHOR_BOT,
        }
    }
}

/// Open or closed (archived, F1.6). Closed dialogs appear only with the archive switch on, so
/// `Status(Closed)` without it finds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DialogStatus {
    Open,
    Closed,
}

/// One F2.2/F2.3 condition on a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The bot's current funnel block is one of these block ids.
    FunnelBlock(Vec<String>),
    /// A member of at least one of these lists ("lists: include").
    ListsAny(Vec<ListId>),
    /// A member of none of these lists ("lists: exclude").
    ListsNone(Vec<ListId>),
    /// Every one of these tags is present (AND).
    TagsAll(Vec<TagId>),
    /// None of these tags is present.
    TagsNone(Vec<TagId>),
    /// No tag at all.
    NoTags,
    /// *Pinned tags only*: the client carries at least one tag. In the product we learn from a
    /// tag "pinned to" (attached to) a client is simply a tag the client has (the switch also
    /// narrows the tag picker to tags in use, which [`super::tag_usage`] already is), so this is
    /// the opposite of [`Condition::NoTags`].
    AnyTag,
    /// The client has an identity on, or exchanged a message through, one of these channels.
    Channels(Vec<ChannelId>),
    /// Assigned to this operator; `None`: free.
    Assignee(Option<OperatorId>),
    Status(DialogStatus),
    LastAuthor(AuthorKind),
    /// The deal is at one of these stages.
    DealStages(Vec<StageId>),
    /// Registered strictly before this moment (the caller passes 00:00 of the day in the
    /// project's time zone).
    RegisteredBefore(Timestamp),
    /// Registered at or after this moment (00:00 of the day).
    RegisteredFrom(Timestamp),
    /// A message (either direction; notes are not messages) at `from <= t < to`, counted in
    /// 15-minute buckets: exact when both ends are quarter hours (days in any time zone).
    ActiveBetween {
        from: Timestamp,
        to: Timestamp,
    },
    /// F1.4 *Unanswered* only.
    Unanswered,
    /// A variable with exactly this name and/or exactly this value (at least one is given).
    Variable {
        name: Option<String>,
        value: Option<String>,
    },
    /// F2.2: the client's decimal number contains these digits (`10` finds 10, 110, 100, 210).
    ClientNumber(String),
    /// F6.5: the last outbound message (bot or operator) failed — not by a rate limit, which
    /// the delivery worker waits out and retries by itself — at or after `since` when given,
    /// and went through `channel` when given.
    OutboundFailed {
        since: Option<Timestamp>,
        channel: Option<ChannelId>,
    },
    /// F6.6: the client blocked the bot (the last outbound message failed so), or we blocked
    /// the client (F4.5).
    Unsubscribed,
}

/// A filter expression: groups joined by AND / OR over conditions (F2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Every part holds; an empty group holds for every dialog.
    All(Vec<Expr>),
    /// At least one part holds; must not be empty.
    Any(Vec<Expr>),
    Is(Condition),
}

impl Expr {
    /// Conditions joined by AND: the default combination (F2.4).
    pub fn all(conditions: impl IntoIterator<Item = Condition>) -> Self {
        Expr::All(conditions.into_iter().map(Expr::Is).collect())
    }
}

/// Why a filter is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filter nested deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("filter has more than {max} groups and conditions")]
    TooLarge { max: usize },
    #[error("{condition}: more than {max} values")]
    TooManyValues { condition: &'static str, max: usize },
    #[error("{condition}: no values")]
    NoValues { condition: &'static str },
    #[error("an any-of group has no parts")]
    EmptyAny,
    #[error("{condition}: text longer than {max} bytes")]
    TextTooLong { condition: &'static str, max: usize },
    #[error("client number: 1 to {max} decimal digits expected")]
    BadClientNumber { max: usize },
    #[error("activity: the range ends before it starts")]
    EmptyRange,
}

/// A checked filter: within its bounds, ready to compile. The default holds for every dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    expr: Expr,
    conditions: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            expr: Expr::All(Vec::new()),
            conditions: 0,
        }
    }
}

impl Filter {
    /// Checks the bounds ([`MAX_DEPTH`], [`MAX_NODES`], [`MAX_VALUES`], [`MAX_TEXT`]) and the
    /// values of every condition.
    pub fn new(expr: Expr) -> Result<Self, FilterError> {
        let mut nodes = 0;
        let mut conditions = 0;
        check(&expr, 1, &mut nodes, &mut conditions)?;
        Ok(Self { expr, conditions })
    }

    /// How many conditions are active (F2.4: the count the UI shows).
    pub fn active_conditions(&self) -> usize {
        self.conditions
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The client number pattern when the whole filter requires it (the filter is that
    /// condition or an AND group holding it): the list can then look numbers up instead of
    /// scanning.
    pub(crate) fn required_number(&self) -> Option<&str> {
        fn condition(e: &Expr) -> Option<&str> {
            match e {
                Expr::Is(Condition::ClientNumber(digits)) => Some(digits.as_str()),
                _ => None,
            }
        }
        match &self.expr {
            Expr::All(parts) => parts.iter().find_map(condition),
            other => condition(other),
        }
    }

    /// The activity buckets the whole filter requires a message in (the filter is that
    /// condition or an AND group holding it), when the range is not empty.
    pub(crate) fn required_activity(&self) -> Option<(i64, i64)> {
        fn condition(e: &Expr) -> Option<(i64, i64)> {
            match e {
                Expr::Is(Condition::ActiveBetween { from, to }) => bucket_range(*from, *to),
                _ => None,
            }
        }
        match &self.expr {
            Expr::All(parts) => parts.iter().find_map(condition),
            other => condition(other),
        }
    }

    /// The tags the whole filter requires (the filter is an all-of-tags condition or an AND
    /// group holding such conditions): the list can then read the dialogs of the rarest one.
    pub(crate) fn required_tags(&self) -> Vec<TagId> {
        fn condition(e: &Expr) -> &[TagId] {
            match e {
                Expr::Is(Condition::TagsAll(tags)) => tags,
                _ => &[],
            }
        }
        match &self.expr {
            Expr::All(parts) => parts
                .iter()
                .flat_map(|p| condition(p).iter().copied())
                .collect(),
            other => condition(other).to_vec(),
        }
    }

    /// Appends ` AND (…)` to `sql`, binding values after those already in `values`.
    pub(crate) fn push_sql(&self, sql: &mut String, values: &mut Vec<Value>) {
        if self.conditions == 0 {
            return;
        }
        sql.push_str(" AND ");
        compile(&self.expr, sql, values);
    }
}

fn check(
    expr: &Expr,
    depth: usize,
    nodes: &mut usize,
    conditions: &mut usize,
) -> Result<(), FilterError> {
    if depth > MAX_DEPTH {
        return Err(FilterError::TooDeep { max: MAX_DEPTH });
    }
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(FilterError::TooLarge { max: MAX_NODES });
    }
    match expr {
        Expr::All(parts) => parts
            .iter()
            .try_for_each(|p| check(p, depth + 1, nodes, conditions)),
        Expr::Any(parts) => {
            if parts.is_empty() {
                return Err(FilterError::EmptyAny);
            }
            parts
                .iter()
                .try_for_each(|p| check(p, depth + 1, nodes, conditions))
        }
        Expr::Is(condition) => {
            *conditions += 1;
            check_condition(condition)
        }
    }
}

fn values<T>(condition: &'static str, list: &[T]) -> Result<(), FilterError> {
    if list.is_empty() {
        return Err(FilterError::NoValues { condition });
    }
    if list.len() > MAX_VALUES {
        return Err(FilterError::TooManyValues {
            condition,
            max: MAX_VALUES,
        });
    }
    Ok(())
}

fn text(condition: &'static str, text: &str) -> Result<(), FilterError> {
    if text.len() > MAX_TEXT {
        return Err(FilterError::TextTooLong {
            condition,
            max: MAX_TEXT,
        });
    }
    Ok(())
}

fn check_condition(condition: &Condition) -> Result<(), FilterError> {
    match condition {
        Condition::FunnelBlock(blocks) => {
            values("funnel block", blocks)?;
            blocks.iter().try_for_each(|b| text("funnel block", b))
        }
        Condition::ListsAny(lists) | Condition::ListsNone(lists) => values("lists", lists),
        Condition::TagsAll(tags) | Condition::TagsNone(tags) => values("tags", tags),
        Condition::Channels(channels) => values("channels", channels),
        Condition::DealStages(stages) => values("deal stages", stages),
        Condition::Variable { name, value } => {
            if name.is_none() && value.is_none() {
                return Err(FilterError::NoValues {
                    condition: "variable",
                });
            }
            name.iter()
                .chain(value.iter())
                .try_for_each(|t| text("variable", t))
        }
        Condition::ClientNumber(digits) => {
            if digits.is_empty()
                || digits.len() > MAX_NUMBER_DIGITS
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(FilterError::BadClientNumber {
                    max: MAX_NUMBER_DIGITS,
                });
            }
            Ok(())
        }
        Condition::ActiveBetween { from, to } => {
            if to < from {
                return Err(FilterError::EmptyRange);
            }
            Ok(())
        }
        Condition::NoTags
        | Condition::AnyTag
        | Condition::Assignee(_)
        | Condition::Status(_)
        | Condition::LastAuthor(_)
        | Condition::RegisteredBefore(_)
        | Condition::RegisteredFrom(_)
        | Condition::Unanswered
        | Condition::OutboundFailed { .. }
        | Condition::Unsubscribed => Ok(()),
    }
}

/// Binds a value and answers its placeholder.
fn bind(values: &mut Vec<Value>, value: Value) -> String {
    values.push(value);
    format!("?{}", values.len())
}

/// `?a, ?b, …` for a list of values.
fn bind_all(values: &mut Vec<Value>, list: impl IntoIterator<Item = Value>) -> String {
    list.into_iter()
        .map(|v| bind(values, v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An id as its stored BLOB (see `crate::blobid`).
fn blob(id: impl BlobId) -> Value {
    Value::Blob(id.blob().to_vec())
}

/// Ids as their stored BLOBs.
fn blobs<T: BlobId>(list: &[T]) -> impl Iterator<Item = Value> + '_ {
    list.iter().map(|id| blob(*id))
}

fn compile(expr: &Expr, sql: &mut String, values: &mut Vec<Value>) {
    match expr {
        Expr::All(parts) | Expr::Any(parts) if parts.is_empty() => {
            // Only an empty All passes the checks.
            sql.push('1');
        }
        Expr::All(parts) | Expr::Any(parts) => {
            let joint = if matches!(expr, Expr::All(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push('(');
            for (n, part) in parts.iter().enumerate() {
                if n > 0 {
                    sql.push_str(joint);
                }
                compile(part, sql, values);
            }
            sql.push(')');
        }
        Expr::Is(condition) => compile_condition(condition, sql, values),
    }
}

fn member(table: &str, column: &str, negate: bool, list: &str) -> String {
    let not = if negate { "NOT " } else { "" };
    format!(
        "{not}EXISTS (SELECT 1 FROM {table} m WHERE m.dialog = d.rowid AND m.{column} IN ({list}))"
    )
}

fn compile_condition(condition: &Condition, sql: &mut String, values: &mut Vec<Value>) {
    let fragment = match condition {
        Condition::FunnelBlock(blocks) => {
            let list = bind_all(values, blocks.iter().map(|b| Value::Text(b.clone())));
            format!("d.funnel_block IN ({list})")
        }
        Condition::ListsAny(lists) => {
            let list = bind_all(values, blobs(lists));
            member("dialog_list", "list", false, &list)
        }
        Condition::ListsNone(lists) => {
            let list = bind_all(values, blobs(lists));
            member("dialog_list", "list", true, &list)
        }
        Condition::TagsAll(tags) => {
            let each: Vec<String> = tags
                .iter()
                .map(|t| {
                    let tag = bind(values, blob(*t));
                    member("dialog_tag", "tag", false, &tag)
                })
                .collect();
            format!("({})", each.join(" AND "))
        }
        Condition::TagsNone(tags) => {
            let list = bind_all(values, blobs(tags));
            member("dialog_tag", "tag", true, &list)
        }
        Condition::NoTags => {
            "NOT EXISTS (SELECT 1 FROM dialog_tag m WHERE m.dialog = d.rowid)".to_owned()
        }
        Condition::AnyTag => {
            "EXISTS (SELECT 1 FROM dialog_tag m WHERE m.dialog = d.rowid)".to_owned()
        }
        Condition::Channels(channels) => {
            // Stored as `idkey` keys.
            let tokens = bind_all(values, channels.iter().map(|c| Value::Text(c.token())));
            let list = format!("SELECT key FROM idkey WHERE id IN ({tokens})");
            member("dialog_channel", "channel", false, &list)
        }
        Condition::Assignee(Some(operator)) => {
            let token = bind(values, Value::Text(operator.token()));
            format!("d.assignee_key = (SELECT key FROM idkey WHERE id = {token})")
        }
        Condition::Assignee(None) => "d.assignee_key IS NULL".to_owned(),
        Condition::Status(DialogStatus::Open) => "d.closed = 0".to_owned(),
        Condition::Status(DialogStatus::Closed) => "d.closed = 1".to_owned(),
        Condition::LastAuthor(author) => {
            let author = bind(values, Value::Integer(author.code()));
            format!("d.last_sender = {author}")
        }
        Condition::DealStages(stages) => {
            let list = bind_all(values, blobs(stages));
            format!("d.deal_stage IN ({list})")
        }
        Condition::RegisteredBefore(at) => {
            let at = bind(values, Value::Integer(at.as_micros()));
            format!("d.client_created_at < {at}")
        }
        Condition::RegisteredFrom(at) => {
            let at = bind(values, Value::Integer(at.as_micros()));
            format!("d.client_created_at >= {at}")
        }
        Condition::ActiveBetween { from, to } => match bucket_range(*from, *to) {
            // An empty range: nothing was active in it. False as a bound value, not the
            // literal 0: SQLite folds a constant-false WHERE away, terms and all, and then
            // cannot prove that a list arm's rows are in the partial index it names.
            None => format!("{} = 1", bind(values, Value::Integer(0))),
            Some((first, last)) => {
                let first = bind(values, Value::Integer(first));
                let last = bind(values, Value::Integer(last));
                format!(
                    "EXISTS (SELECT 1 FROM dialog_activity m WHERE m.dialog = d.rowid
                         AND {}(m.buckets, {first}, {last}))",
                    super::activity::ACTIVE_BETWEEN
                )
            }
        },
        Condition::Unanswered => "d.unanswered = 1".to_owned(),
        Condition::Variable { name, value } => {
            let mut fragment =
                "EXISTS (SELECT 1 FROM dialog_variable m WHERE m.dialog = d.rowid".to_owned();
            if let Some(name) = name {
                let name = bind(values, Value::Text(name.clone()));
                fragment.push_str(&format!(" AND m.name = {name}"));
            }
            if let Some(value) = value {
                let value = bind(values, Value::Text(value.clone()));
                fragment.push_str(&format!(" AND m.value = {value}"));
            }
            fragment.push(')');
            fragment
        }
        Condition::ClientNumber(digits) => {
            let digits = bind(values, Value::Text(digits.clone()));
            format!("instr(CAST(d.client_number AS TEXT), {digits}) > 0")
        }
        Condition::OutboundFailed { since, channel } => {
            let rate_limited = bind(values, Value::Integer(schema::FAILURE_RATE_LIMITED));
            let mut fragment =
                format!("(d.last_out_failure IS NOT NULL AND d.last_out_failure != {rate_limited}");
            if let Some(since) = since {
                let since = bind(values, Value::Integer(since.as_micros()));
                fragment.push_str(&format!(" AND d.last_out_failed_at >= {since}"));
            }
            if let Some(channel) = channel {
                let token = bind(values, Value::Text(channel.token()));
                fragment.push_str(&format!(
                    " AND d.last_out_channel_key = (SELECT key FROM idkey WHERE id = {token})"
                ));
            }
            fragment.push(')');
            fragment
        }
        Condition::Unsubscribed => {
            let blocked_the_bot = bind(values, Value::Integer(schema::FAILURE_BLOCKED_BY_CLIENT));
            format!("(d.blocked = 1 OR d.last_out_failure = {blocked_the_bot})")
        }
    };
    sql.push_str(&fragment);
}

/// Most numbers [`number_candidates`] lists; beyond it a page scans in order instead (the
/// pattern is then common enough for pages to fill quickly).
pub const MAX_NUMBER_CANDIDATES: usize = 2_000;

/// F2.2: every client number from 1 to `max` whose decimal form contains `digits`, ascending,
/// or `None` when there would be more than [`MAX_NUMBER_CANDIDATES`] (or `digits` is not a
/// pattern [`Filter::new`] accepts). Built digit position by digit position: a number of `len`
/// digits holds the pattern at offset `at` with any prefix (no leading zero) and any suffix.
pub fn number_candidates(digits: &str, max: u64) -> Option<Vec<u64>> {
    if digits.is_empty() || digits.len() > MAX_NUMBER_DIGITS {
        return None;
    }
    let pattern: u128 = digits.parse().ok()?;
    let width = u32::try_from(digits.len()).ok()?;
    let max_len = u32::try_from(max.max(1).to_string().len()).ok()?;
    let mut shapes = Vec::new();
    let mut count: u128 = 0;
    for len in width..=max_len {
        for at in 0..=(len - width) {
            let suffix_len = len - width - at;
            let (first_prefix, end_prefix) = if at == 0 {
                if digits.starts_with('0') {
                    continue; // no leading zero
                }
                (0u128, 1u128)
            } else {
                (10u128.pow(at - 1), 10u128.pow(at))
            };
            count += (end_prefix - first_prefix) * 10u128.pow(suffix_len);
            if count > MAX_NUMBER_CANDIDATES as u128 * 10 {
                return None;
            }
            shapes.push((first_prefix, end_prefix, suffix_len));
        }
    }
    let mut numbers = Vec::new();
    for (first_prefix, end_prefix, suffix_len) in shapes {
        let scale = 10u128.pow(suffix_len);
        for prefix in first_prefix..end_prefix {
            let head = (prefix * 10u128.pow(width) + pattern) * scale;
            for suffix in 0..scale {
                let number = head + suffix;
                if number >= 1 && number <= u128::from(max) {
                    numbers.push(u64::try_from(number).ok()?);
                }
            }
        }
    }
    numbers.sort_unstable();
    numbers.dedup();
    (numbers.len() <= MAX_NUMBER_CANDIDATES).then_some(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_candidates_are_every_number_holding_the_digits() {
        for max in [0u64, 1, 9, 10, 99, 100, 210, 1_000, 1_234, 20_000] {
            for digits in [
                "0", "1", "10", "99", "123", "007", "9999", "20000", "123456",
            ] {
                let brute: Vec<u64> = (1..=max)
                    .filter(|n| n.to_string().contains(digits))
                    .collect();
                match number_candidates(digits, max) {
                    Some(listed) => assert_eq!(listed, brute, "{digits} up to {max}"),
                    None => assert!(
                        brute.len() > MAX_NUMBER_CANDIDATES / 10,
                        "{digits} up to {max}: only {} numbers, yet refused",
                        brute.len()
                    ),
                }
            }
        }
        assert_eq!(number_candidates("", 10), None);
        assert_eq!(number_candidates("1", u64::MAX), None, "too many");
        let longest = number_candidates("1234567890123456789", u64::MAX).expect("few");
        assert!(
            longest
                .iter()
                .all(|n| n.to_string().contains("1234567890123456789"))
        );
        assert_eq!(longest.first(), Some(&1_234_567_890_123_456_789));
    }

    fn compiled(expr: Expr) -> (String, Vec<Value>) {
        let filter = Filter::new(expr).expect("valid");
        let mut sql = String::new();
        let mut values = vec![Value::Integer(0)];
        filter.push_sql(&mut sql, &mut values);
        (sql, values)
    }

    #[test]
    fn values_are_bound_never_written_into_the_sql() {
        let sneaky = "x' OR 1=1 --".to_owned();
        let (sql, values) = compiled(Expr::All(vec![
            Expr::Is(Condition::Variable {
                name: Some(sneaky.clone()),
                value: None,
            }),
            Expr::Any(vec![
                Expr::Is(Condition::FunnelBlock(vec![sneaky.clone()])),
                Expr::Is(Condition::ClientNumber("10".into())),
            ]),
        ]));
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert!(sql.contains("?2") && sql.contains("?3") && sql.contains("?4"));
        assert_eq!(values.len(), 4, "the caller's first value is kept");
        assert_eq!(values[1], Value::Text(sneaky));
        assert!(sql.contains(" OR "), "{sql}");
    }

    #[test]
    fn counts_conditions_and_treats_no_filter_as_true() {
        let filter = Filter::new(Expr::All(vec![
            Expr::Is(Condition::Unanswered),
            Expr::Any(vec![
                Expr::Is(Condition::NoTags),
                Expr::Is(Condition::AnyTag),
            ]),
        ]))
        .expect("valid");
        assert_eq!(filter.active_conditions(), 3);
        let none = Filter::default();
        assert_eq!(none.active_conditions(), 0);
        let mut sql = String::new();
        none.push_sql(&mut sql, &mut Vec::new());
        assert_eq!(sql, "");
    }

    #[test]
    fn bounds_are_refused_with_a_reason() {
        let mut deep = Expr::Is(Condition::Unanswered);
        for _ in 0..MAX_DEPTH {
            deep = Expr::All(vec![deep]);
        }
        assert_eq!(
            Filter::new(deep),
            Err(FilterError::TooDeep { max: MAX_DEPTH })
        );
        let wide = Expr::all((0..MAX_NODES).map(|_| Condition::Unanswered));
        assert_eq!(
            Filter::new(wide),
            Err(FilterError::TooLarge { max: MAX_NODES })
        );
        let many = Condition::TagsAll((0..=MAX_VALUES).map(|_| TagId::new()).collect());
        assert!(matches!(
            Filter::new(Expr::all([many])),
            Err(FilterError::TooManyValues { .. })
        ));
        assert!(matches!(
            Filter::new(Expr::all([Condition::ListsAny(vec![])])),
            Err(FilterError::NoValues { .. })
        ));
        assert_eq!(Filter::new(Expr::Any(vec![])), Err(FilterError::EmptyAny));
        for bad in ["", "1a", "-1", "12345678901234567890"] {
            assert!(
                matches!(
                    Filter::new(Expr::all([Condition::ClientNumber(bad.into())])),
                    Err(FilterError::BadClientNumber { .. })
                ),
                "{bad:?}"
            );
        }
        let long = "x".repeat(MAX_TEXT + 1);
        assert!(matches!(
            Filter::new(Expr::all([Condition::FunnelBlock(vec![long])])),
            Err(FilterError::TextTooLong { .. })
        ));
        let variable = Condition::Variable {
            name: None,
            value: None,
        };
        assert!(matches!(
            Filter::new(Expr::all([variable])),
            Err(FilterError::NoValues { .. })
        ));
        let backwards = Condition::ActiveBetween {
            from: Timestamp::from_micros(10),
            to: Timestamp::from_micros(5),
        };
        assert_eq!(
            Filter::new(Expr::all([backwards])),
            Err(FilterError::EmptyRange)
        );
    }

    #[test]
    fn activity_buckets_cover_the_range_and_round_down_before_the_epoch() {
        assert_eq!(activity_bucket(Timestamp::from_micros(0)), 0);
        assert_eq!(activity_bucket(Timestamp::from_micros(-1)), -1);
        assert_eq!(
            activity_bucket(Timestamp::from_micros(ACTIVITY_BUCKET_MICROS)),
            1
        );
    }
}
