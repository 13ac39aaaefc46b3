//! The analyzers' parts tantivy does not have: client values as positioned grams that never
//! span two values, the first characters of each word, and `ё` folded into `е`.

use super::GRAM;
use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

/// Joins a client document's values into its one `grams` text; no gram spans it.
pub(super) const VALUE_SEPARATOR: char = '\0';

/// Client values as n-grams of [`GRAM`] characters, each at the position of its first character,
/// so that a phrase of grams at the right offsets is exactly a substring. The text is a
/// document's values joined by [`VALUE_SEPARATOR`]: no gram spans two values, and a value's first
/// gram comes `GRAM + 1` positions after the last one of the value before, farther apart than two
/// grams of a query phrase ever are (at most `GRAM`), so a phrase never matches across values.
#[derive(Clone, Debug)]
pub(super) struct GramTokenizer;

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = GramStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> GramStream {
        let mut tokens = Vec::new();
        let mut position = 0;
        let mut base = 0;
        for value in text.split(VALUE_SEPARATOR) {
            let bounds: Vec<usize> = value
                .char_indices()
                .map(|(i, _)| i)
                .chain([value.len()])
                .collect();
            let grams = bounds.len().saturating_sub(GRAM);
            for (start, window) in bounds.windows(GRAM + 1).enumerate() {
                let (from, to) = (window[0], window[GRAM]);
                tokens.push(Token {
                    offset_from: base + from,
                    offset_to: base + to,
                    position: position + start,
                    text: value[from..to].to_owned(),
                    position_length: 1,
                });
            }
            if grams > 0 {
                position += grams + GRAM;
            }
            base += value.len() + VALUE_SEPARATOR.len_utf8();
        }
        GramStream {
            tokens: tokens.into_iter(),
            current: Token::default(),
        }
    }
}

pub(super) struct GramStream {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl TokenStream for GramStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// The length of the word prefix a two-character client query looks for.
pub(super) const WORD_START: usize = 2;

/// A token filter that keeps the first [`WORD_START`] characters of each word and drops shorter
/// words.
#[derive(Clone, Debug)]
pub(super) struct WordStart;

impl TokenFilter for WordStart {
    type Tokenizer<T: Tokenizer> = WordStartFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordStartFilter<T> {
        WordStartFilter(tokenizer)
    }
}

#[derive(Clone, Debug)]
pub(super) struct WordStartFilter<T>(T);

impl<T: Tokenizer> Tokenizer for WordStartFilter<T> {
    type TokenStream<'a> = WordStartStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordStartStream(self.0.token_stream(text))
    }
}

pub(super) struct WordStartStream<S>(S);

impl<S: TokenStream> TokenStream for WordStartStream<S> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            let token = self.0.token_mut();
            if let Some((end, _)) = token.text.char_indices().nth(WORD_START) {
                token.text.truncate(end);
                return true;
            }
            if token.text.chars().count() == WORD_START {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// A token filter that folds `ё` into `е` (after lowercasing): Russian text is written both ways.
#[derive(Clone, Debug)]
pub(super) struct YoFolder;

impl TokenFilter for YoFolder {
    type Tokenizer<T: Tokenizer> = YoFolderFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> YoFolderFilter<T> {
        YoFolderFilter(tokenizer)
    }
}

#[derive(Clone, Debug)]
pub(super) struct YoFolderFilter<T>(T);

impl<T: Tokenizer> Tokenizer for YoFolderFilter<T> {
    type TokenStream<'a> = YoFolderStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        YoFolderStream(self.0.token_stream(text))
    }
}

pub(super) struct YoFolderStream<S>(S);

impl<S: TokenStream> TokenStream for YoFolderStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        let token = self.0.token_mut();
        if token.text.contains('ё') {
            token.text = token.text.replace('ё', "е");
        }
        true
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}
