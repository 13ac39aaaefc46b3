use super::body::ClientBody;
use super::documents::{add_order, newest_first, older_than, order_of};
use super::query::client_match;
use super::schema::{TEXT, WORDS, register_tokenizers, schema};
use super::tokenizers::GramTokenizer;
use super::versions::{decode_checkpoint, encode_checkpoint};
use super::*;
use crate::runtime::Checkpoint;
use switchboard_schemas::Timestamp;
use tantivy::collector::DocSetCollector;
use tantivy::query::Query;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{Index, IndexWriter, TantivyDocument};

fn tokens(index: &Index, name: &str, text: &str) -> Vec<String> {
    let mut analyzer = index.tokenizers().get(name).expect("registered");
    let mut out = Vec::new();
    analyzer
        .token_stream(text)
        .process(&mut |t: &Token| out.push(t.text.clone()));
    out
}

#[test]
fn the_text_analyzer_stems_russian_and_english_alike() {
    let (schema, _) = schema();
    let index = Index::create_in_ram(schema);
    register_tokenizers(&index).expect("tokenizers");
    assert_eq!(
        tokens(&index, TEXT, "заказы"),
        tokens(&index, TEXT, "Заказ")
    );
    assert_eq!(tokens(&index, TEXT, "running"), tokens(&index, TEXT, "run"));
    assert_eq!(tokens(&index, TEXT, "Ёлка"), tokens(&index, TEXT, "елки"));
    // Each stemmer leaves the other alphabet alone.
    assert_eq!(
        tokens(&index, TEXT, "iphone заказы"),
        vec!["iphon", "заказ"]
    );
}

#[test]
fn grams_are_positioned_and_never_span_values() {
    let mut stream = GramTokenizer.token_stream("ёлка\0ab\0xyz1");
    let mut grams = Vec::new();
    while stream.advance() {
        let t = stream.token();
        grams.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
    }
    // ё is two bytes; "ab" has no gram; the next value starts GRAM + 1 positions on.
    assert_eq!(
        grams,
        vec![
            ("ёлк".to_owned(), 0, 0, 6),
            ("лка".to_owned(), 1, 2, 8),
            ("xyz".to_owned(), 5, 12, 15),
            ("yz1".to_owned(), 6, 13, 16),
        ]
    );
}

#[test]
fn a_client_query_matches_a_substring_of_one_value_only() {
    let (schema, fields) = schema();
    let index = Index::create_in_ram(schema);
    register_tokenizers(&index).expect("tokenizers");
    let mut writer: IndexWriter<TantivyDocument> = index.writer(15_000_000).expect("writer");
    // Every gram of "abcdef" is there, but in two values, or not in a row.
    for (n, grams) in [
        "xabc\0zdef",
        "abc\0bcd\0cde\0def",
        "abcdef",
        "zabcdefz",
        "abcxdef",
        "zzzzzz",
        "zzzz\0zzzz",
    ]
    .into_iter()
    .enumerate()
    {
        let mut doc = TantivyDocument::new();
        add_order(&mut doc, &fields, (n as u64) << 12);
        doc.add_text(fields.grams, grams);
        writer.add_document(doc).expect("add");
    }
    writer.commit().expect("commit");
    let searcher = index.reader().expect("reader").searcher();
    let found = |text: &str| {
        let query = client_match(&fields, text).expect("query").expect("some");
        let mut orders: Vec<u64> = searcher
            .search(&query, &DocSetCollector)
            .expect("search")
            .into_iter()
            .map(|address| {
                let segment = searcher.segment_reader(address.segment_ord);
                let column = segment.fast_fields().u64("seq").expect("seq");
                column.first(address.doc_id).expect("seq")
            })
            .collect();
        orders.sort_unstable();
        orders
    };
    assert_eq!(found("abcdef"), vec![2, 3]);
    assert_eq!(found("bcde"), vec![2, 3]);
    assert_eq!(found("def"), vec![0, 1, 2, 3, 4]);
    assert_eq!(found("cdefz"), vec![3]);
    assert_eq!(found("zdef"), vec![0]);
    assert_eq!(found("abczdef"), Vec::<u64>::new());
    // A gram repeated in the query.
    assert_eq!(found("zzzzzz"), vec![5]);
    assert_eq!(found("zzzz"), vec![5, 6]);
}

#[test]
fn order_keys_sort_and_page_by_sequence_then_index() {
    let (schema, fields) = schema();
    let index = Index::create_in_ram(schema);
    register_tokenizers(&index).expect("tokenizers");
    let mut writer: IndexWriter<TantivyDocument> = index.writer(15_000_000).expect("writer");
    let keys = [(5, 1), (4, 0), (6, 0), (5, 0), (5, 2), (4, 3)];
    for (n, (seq, event)) in keys.into_iter().enumerate() {
        let mut doc = TantivyDocument::new();
        add_order(&mut doc, &fields, order_of(seq, event));
        doc.add_bytes(fields.project, &[0; 16]);
        doc.add_bytes(fields.dialog, &(n as u128).to_be_bytes());
        writer.add_document(doc).expect("add");
        if n == 2 {
            writer.commit().expect("commit"); // two segments
        }
    }
    writer.commit().expect("commit");
    let searcher = index.reader().expect("reader").searcher();
    let newest = |query: &dyn Query| -> Vec<(u64, usize)> {
        searcher
            .search(query, &newest_first(&searcher, 10).expect("collector"))
            .expect("search")
            .into_iter()
            .map(|(key, _)| (key >> 12, (key & 0xfff) as usize))
            .collect()
    };
    assert_eq!(
        newest(&tantivy::query::AllQuery),
        vec![(6, 0), (5, 2), (5, 1), (5, 0), (4, 3), (4, 0)]
    );
    assert_eq!(
        newest(&*older_than(&fields, order_of(5, 2))),
        vec![(5, 1), (5, 0), (4, 3), (4, 0)]
    );
    assert_eq!(
        newest(&*older_than(&fields, order_of(5, 0))),
        vec![(4, 3), (4, 0)]
    );
    assert_eq!(newest(&*older_than(&fields, order_of(4, 1))), vec![(4, 0)]);
}

#[test]
fn words_are_indexed_by_their_first_two_characters() {
    let (schema, _) = schema();
    let index = Index::create_in_ram(schema);
    register_tokenizers(&index).expect("tokenizers");
    assert_eq!(
        tokens(&index, WORDS, "vasya1988 и петр x+7 (912)"),
        vec!["va", "пе", "91"]
    );
}

#[test]
fn client_values_are_normalised_with_phone_digits() {
    let body = ClientBody {
        name: Some("Пётр Vasya1988".into()),
        phone: Some("+7 (777) 198-87-77".into()),
        ..ClientBody::new(1, Timestamp::from_micros(1))
    };
    assert_eq!(
        body.values(),
        vec!["петр vasya1988", "+7 (777) 198-87-77", "77771988777"]
    );
}

#[test]
fn checkpoints_round_trip_through_the_payload() {
    for checkpoint in [
        Checkpoint::default(),
        Checkpoint {
            seq: 42,
            undecodable: 2,
            last_undecodable_seq: Some(40),
            applied_at: None,
        },
        Checkpoint {
            seq: 43,
            undecodable: 0,
            last_undecodable_seq: None,
            applied_at: Some(switchboard_schemas::Timestamp::from_micros(
                1_700_000_000_123_456,
            )),
        },
    ] {
        let payload = encode_checkpoint(checkpoint);
        assert_eq!(
            decode_checkpoint(Some(&payload)).expect("decode"),
            checkpoint
        );
    }
    assert_eq!(
        decode_checkpoint(None).expect("none"),
        Checkpoint::default()
    );
    assert!(decode_checkpoint(Some("garbage")).is_err());
}

#[test]
fn cursors_have_a_text_form() {
    for cursor in [SearchCursor::Before(77), SearchCursor::Offset(20)] {
        assert_eq!(
            cursor.to_string().parse::<SearchCursor>().expect("parse"),
            cursor
        );
    }
    assert!("x1".parse::<SearchCursor>().is_err());
    assert!("n".parse::<SearchCursor>().is_err());
}
