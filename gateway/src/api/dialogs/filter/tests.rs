use super::*;

fn tag(n: u128) -> TagId {
    TagId::from_u128(n)
}

fn field_of(error: AppError) -> (String, String) {
    match error {
        AppError::BadRequest { field, message, .. } => (field.unwrap_or_default(), message),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn groups_and_conditions_become_the_expression_the_list_compiles() {
    let text = format!(
        r#"{{"all":[
            {{"tags_all":["{}"]}},
            {{"any":[{{"assignee":null}},"unanswered"]}},
            {{"status":"open"}},
            {{"variable":{{"name":"city"}}}},
            {{"active_between":{{"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00+03:00"}}}}
        ]}}"#,
        tag(7)
    );
    let filter = parse(&text, "filter").unwrap();
    assert_eq!(filter.active_conditions(), 6);
    let Expr::All(parts) = filter.expr() else {
        panic!("{:?}", filter.expr())
    };
    assert_eq!(parts[0], Expr::Is(Condition::TagsAll(vec![tag(7)])));
    assert_eq!(
        parts[1],
        Expr::Any(vec![
            Expr::Is(Condition::Assignee(None)),
            Expr::Is(Condition::Unanswered)
        ])
    );
    assert_eq!(parts[2], Expr::Is(Condition::Status(DialogStatus::Open)));
    let Expr::Is(Condition::ActiveBetween { from, to }) = parts[4] else {
        panic!("{:?}", parts[4])
    };
    // +03:00 is read as the moment it names.
    assert_eq!(to.as_micros() - from.as_micros(), 21 * 3600 * 1_000_000);
}

#[test]
fn the_json_form_round_trips_so_a_saved_filter_is_what_was_asked() {
    let node = Node::All(vec![
        Node::TagsNone(vec![tag(1), tag(2)]),
        Node::Any(vec![Node::NoTags, Node::LastAuthor(LastAuthorName::Client)]),
        Node::ClientNumber("10".into()),
    ]);
    let text = serde_json::to_string(&node).unwrap();
    assert_eq!(serde_json::from_str::<Node>(&text).unwrap(), node);
    assert!(text.contains(r#""no_tags""#), "{text}");
}

#[test]
fn an_unknown_condition_or_a_wrong_type_names_its_path() {
    let (field, message) =
        field_of(parse(r#"{"all":[{"status":"open"},{"colour":1}]}"#, "filter").unwrap_err());
    assert_eq!(field, "filter.all[1]");
    assert!(message.contains("unknown variant `colour`"), "{message}");

    let (field, _) =
        field_of(parse(r#"{"all":[{"tags_all":["not-an-id"]}]}"#, "filter").unwrap_err());
    assert_eq!(field, "filter.all[0].tags_all[0]");

    let (field, _) =
        field_of(parse(r#"{"variable":{"name":"a","colour":"b"}}"#, "filter").unwrap_err());
    assert_eq!(field, "filter.variable.colour");

    let (field, _) = field_of(parse("not json", "filter").unwrap_err());
    assert_eq!(field, "filter");
}

#[test]
fn bounds_are_refused_naming_the_filter() {
    let (field, message) = field_of(parse(r#"{"any":[]}"#, "query.filter").unwrap_err());
    assert_eq!(field, "query.filter");
    assert!(message.contains("no parts"), "{message}");

    let deep = r#"{"all":[{"all":[{"all":[{"all":[{"all":["unanswered"]}]}]}]}]}"#;
    let (_, message) = field_of(parse(deep, "filter").unwrap_err());
    assert!(message.contains("deeper"), "{message}");

    let (_, message) = field_of(parse(r#"{"client_number":"12a"}"#, "filter").unwrap_err());
    assert!(message.contains("decimal digits"), "{message}");
}
