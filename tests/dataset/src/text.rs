//! Words for the generated history: message texts in Russian and English built from a small
//! grammar (nouns declined by case and number, verbs in several forms, so that a stemming search
//! has inflected words to find), client names, phones, emails and channel ids.

use crate::rng::Rng;

/// The language of a dialog's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }
}

/// Russian nouns that decline regularly: (stem, gender). Masculine nouns end in a consonant,
/// feminine ones in -а; the stem is what precedes the ending.
const RU_MASC: &[&str] = &[
    "заказ",
    "товар",
    "курьер",
    "магазин",
    "чек",
    "размер",
    "возврат",
    "обмен",
    "склад",
    "пункт",
    "телефон",
    "подарок",
    "купон",
    "промокод",
    "кабинет",
    "аккаунт",
    "трек",
    "комплект",
    "букет",
    "диван",
    "ноутбук",
    "смартфон",
];
const RU_FEM: &[&str] = &[
    "доставк",
    "скидк",
    "посылк",
    "оплат",
    "карт",
    "цен",
    "заявк",
    "ошибк",
    "коробк",
    "куртк",
    "сумк",
    "книг",
    "упаковк",
    "подписк",
    "рассылк",
];

/// Endings of a regular noun by case: nominative, genitive, dative, accusative, instrumental,
/// prepositional; singular then plural.
const MASC_ENDINGS: [&str; 12] = [
    "", "а", "у", "", "ом", "е", "ы", "ов", "ам", "ы", "ами", "ах",
];
const FEM_ENDINGS: [&str; 12] = [
    "а", "ы", "е", "у", "ой", "е", "ы", "", "ам", "ы", "ами", "ах",
];

/// Grammatical cases of `ru_noun`.
#[derive(Debug, Clone, Copy)]
pub enum Case {
    Nom = 0,
    Gen = 1,
    Dat = 2,
    Acc = 3,
    Ins = 4,
    Pre = 5,
}

/// Letters after which ы is written и.
const HUSHING: [char; 7] = ['к', 'г', 'х', 'ж', 'ш', 'ч', 'щ'];

/// One form of a random Russian noun (`plural` picks the plural forms).
fn ru_noun(rng: &mut Rng, case: Case, plural: bool, out: &mut String) {
    let masculine = rng.chance(0.6);
    ru_noun_of(rng, case, plural, masculine, out);
}

/// One form of a random Russian noun of the given gender (after `мой`, `ваш`).
fn ru_noun_of(rng: &mut Rng, case: Case, plural: bool, masculine: bool, out: &mut String) {
    let index = case as usize + if plural { 6 } else { 0 };
    let (stem, endings) = if masculine {
        (rng.pick(RU_MASC), &MASC_ENDINGS)
    } else {
        (rng.pick(RU_FEM), &FEM_ENDINGS)
    };
    let mut ending = endings[index];
    if ending == "ы" && ends_with_any(stem, &HUSHING) {
        ending = "и";
    }
    if stem == "подарок" && !ending.is_empty() {
        // The fleeting vowel: подарка, подарку.
        out.push_str("подарк");
    } else if !masculine && ending.is_empty() && stem.ends_with('к') {
        // Genitive plural of -ка nouns: доставок, скидок.
        out.push_str(&stem[..stem.len() - 'к'.len_utf8()]);
        out.push_str("ок");
    } else {
        out.push_str(stem);
    }
    out.push_str(ending);
}

fn ends_with_any(text: &str, letters: &[char]) -> bool {
    text.chars().last().is_some_and(|c| letters.contains(&c))
}

const RU_GREETINGS: &[&str] = &[
    "Здравствуйте!",
    "Добрый день!",
    "Добрый вечер!",
    "Привет!",
    "Доброе утро.",
    "",
    "",
];
const RU_ADJ_GEN: &[&str] = &[
    "моего",
    "нового",
    "последнего",
    "вчерашнего",
    "срочного",
    "большого",
];
const RU_VERB_PAST: &[&str] = &[
    "получил",
    "получила",
    "оформил",
    "оформила",
    "оплатил",
    "оплатила",
    "отправил",
    "заказывал",
    "заказывала",
    "вернул",
    "отменил",
    "выбрала",
];
const RU_VERB_INF: &[&str] = &[
    "отменить",
    "вернуть",
    "поменять",
    "оплатить",
    "получить",
    "забрать",
    "перенести",
    "уточнить",
    "оформить",
    "продлить",
];
const RU_CLOSINGS: &[&str] = &[
    "Спасибо!",
    "Заранее спасибо.",
    "Жду ответа.",
    "Очень жду.",
    "Подскажите, пожалуйста.",
    "Это срочно!",
    "",
    "",
    "",
];
const RU_CITIES: &[&str] = &[
    "Москве",
    "Санкт-Петербурге",
    "Казани",
    "Новосибирске",
    "Екатеринбурге",
    "Самаре",
    "Краснодаре",
    "Перми",
];

/// A client's message in Russian.
fn ru_inbound(rng: &mut Rng, out: &mut String) {
    let greeting = rng.pick(RU_GREETINGS);
    if !greeting.is_empty() {
        out.push_str(greeting);
        out.push(' ');
    }
    match rng.below(12) {
        0 => {
            out.push_str("Где мой ");
            ru_noun_of(rng, Case::Nom, false, true, out);
            out.push_str("? Номер ");
            push_number(rng, 100_000, 9_999_999, out);
            out.push('.');
        }
        1 => {
            out.push_str("Когда будет доставка ");
            out.push_str(rng.pick(RU_ADJ_GEN));
            out.push(' ');
            ru_noun(rng, Case::Gen, false, out);
            out.push('?');
        }
        2 => {
            out.push_str("Я ");
            out.push_str(rng.pick(RU_VERB_PAST));
            out.push(' ');
            let plural = rng.chance(0.3);
            ru_noun(rng, Case::Acc, plural, out);
            out.push_str(", но ничего не пришло.");
        }
        3 => {
            out.push_str("Хочу ");
            out.push_str(rng.pick(RU_VERB_INF));
            out.push(' ');
            ru_noun(rng, Case::Acc, false, out);
            out.push_str(". Как это сделать?");
        }
        4 => {
            out.push_str("Сколько стоит доставка в ");
            out.push_str(rng.pick(RU_CITIES));
            out.push('?');
        }
        5 => {
            out.push_str("У меня проблема с ");
            let plural = rng.chance(0.4);
            ru_noun(rng, Case::Ins, plural, out);
            out.push_str(", помогите разобраться.");
        }
        6 => {
            out.push_str("Можно ли ");
            out.push_str(rng.pick(RU_VERB_INF));
            out.push_str(" до ");
            push_number(rng, 1, 28, out);
            out.push_str(" числа?");
        }
        7 => {
            out.push_str("Не могу найти информацию о ");
            let plural = rng.chance(0.5);
            ru_noun(rng, Case::Pre, plural, out);
            out.push_str(" в личном кабинете.");
        }
        8 => {
            out.push_str("Есть ли у вас скидки на ");
            ru_noun(rng, Case::Acc, true, out);
            out.push('?');
        }
        9 => {
            out.push_str("Спасибо, всё получил!");
        }
        10 => {
            out.push_str("Пришло не то: вместо ");
            ru_noun(rng, Case::Gen, false, out);
            out.push_str(" положили ");
            ru_noun(rng, Case::Acc, false, out);
            out.push('.');
        }
        _ => {
            out.push_str("Подскажите по ");
            let plural = rng.chance(0.3);
            ru_noun(rng, Case::Dat, plural, out);
            out.push_str(": сколько ждать?");
        }
    }
    let closing = rng.pick(RU_CLOSINGS);
    if !closing.is_empty() {
        out.push(' ');
        out.push_str(closing);
    }
}

/// An operator's (or the bot's) answer in Russian.
fn ru_outbound(rng: &mut Rng, out: &mut String) {
    match rng.below(9) {
        0 => {
            out.push_str("Добрый день! Ваш ");
            ru_noun_of(rng, Case::Nom, false, true, out);
            out.push_str(" уже в пути, ожидайте ");
            push_number(rng, 1, 7, out);
            out.push_str(" дн.");
        }
        1 => {
            out.push_str("Проверили: доставка ");
            let plural = rng.chance(0.3);
            ru_noun(rng, Case::Gen, plural, out);
            out.push_str(" запланирована на завтра.");
        }
        2 => {
            out.push_str("Чтобы ");
            out.push_str(rng.pick(RU_VERB_INF));
            out.push(' ');
            ru_noun(rng, Case::Acc, false, out);
            out.push_str(", пришлите, пожалуйста, номер ");
            ru_noun(rng, Case::Gen, false, out);
            out.push('.');
        }
        3 => out.push_str("Спасибо за обращение! Передали вопрос специалисту."),
        4 => {
            out.push_str("Трек-номер: RU");
            push_number(rng, 100_000_000, 999_999_999, out);
            out.push_str(". Отслеживать можно на сайте.");
        }
        5 => {
            out.push_str("Скидка ");
            push_number(rng, 5, 30, out);
            out.push_str("% действует на все ");
            ru_noun(rng, Case::Acc, true, out);
            out.push_str(" до конца месяца.");
        }
        6 => out.push_str("Извините за ожидание. Уже разбираемся."),
        7 => {
            out.push_str("Вернуть деньги за ");
            ru_noun(rng, Case::Acc, false, out);
            out.push_str(" можно в течение 14 дней.");
        }
        _ => {
            out.push_str("Здравствуйте! Уточните, пожалуйста, город и адрес доставки.");
        }
    }
}

const EN_NOUNS: &[(&str, &str)] = &[
    ("order", "orders"),
    ("package", "packages"),
    ("parcel", "parcels"),
    ("refund", "refunds"),
    ("delivery", "deliveries"),
    ("invoice", "invoices"),
    ("payment", "payments"),
    ("discount", "discounts"),
    ("subscription", "subscriptions"),
    ("booking", "bookings"),
    ("item", "items"),
    ("size", "sizes"),
];
const EN_VERBS: &[(&str, &str, &str)] = &[
    ("order", "ordered", "ordering"),
    ("cancel", "cancelled", "cancelling"),
    ("return", "returned", "returning"),
    ("pay", "paid", "paying"),
    ("change", "changed", "changing"),
    ("track", "tracked", "tracking"),
    ("receive", "received", "receiving"),
    ("ship", "shipped", "shipping"),
    ("book", "booked", "booking"),
];

fn en_noun(rng: &mut Rng, plural: bool) -> &'static str {
    let (one, many) = rng.pick(EN_NOUNS);
    if plural { many } else { one }
}

fn en_inbound(rng: &mut Rng, out: &mut String) {
    let greeting = rng.pick(&["Hi!", "Hello,", "Good morning!", "Hey", ""]);
    if !greeting.is_empty() {
        out.push_str(greeting);
        out.push(' ');
    }
    let (verb, past, ing) = rng.pick(EN_VERBS);
    match rng.below(8) {
        0 => {
            out.push_str("Where is my ");
            out.push_str(en_noun(rng, false));
            out.push_str("? Number ");
            push_number(rng, 100_000, 9_999_999, out);
            out.push('.');
        }
        1 => {
            out.push_str("I ");
            out.push_str(past);
            out.push_str(" two ");
            out.push_str(en_noun(rng, true));
            out.push_str(" last week and nothing arrived.");
        }
        2 => {
            out.push_str("I want to ");
            out.push_str(verb);
            out.push_str(" my ");
            out.push_str(en_noun(rng, false));
            out.push_str(", how do I do that?");
        }
        3 => {
            out.push_str("Is ");
            out.push_str(ing);
            out.push_str(" possible for ");
            out.push_str(en_noun(rng, true));
            out.push_str(" bought on sale?");
        }
        4 => out.push_str("Thanks, got it!"),
        5 => {
            out.push_str("Do you have discounts on ");
            out.push_str(en_noun(rng, true));
            out.push('?');
        }
        6 => {
            out.push_str("The ");
            out.push_str(en_noun(rng, false));
            out.push_str(" was ");
            out.push_str(past);
            out.push_str(" twice, please check.");
        }
        _ => {
            out.push_str("How long does ");
            out.push_str(en_noun(rng, false));
            out.push_str(" take to London?");
        }
    }
    if rng.chance(0.3) {
        out.push_str(rng.pick(&[" Thanks!", " Please help.", " It's urgent."]));
    }
}

fn en_outbound(rng: &mut Rng, out: &mut String) {
    match rng.below(5) {
        0 => {
            out.push_str("Hello! Your ");
            out.push_str(en_noun(rng, false));
            out.push_str(" has been shipped, tracking number GB");
            push_number(rng, 10_000_000, 99_999_999, out);
            out.push('.');
        }
        1 => out.push_str("Thank you for reaching out, we are looking into it."),
        2 => {
            out.push_str("Refunds for ");
            out.push_str(en_noun(rng, true));
            out.push_str(" take up to ");
            push_number(rng, 3, 10, out);
            out.push_str(" business days.");
        }
        3 => out.push_str("Could you send us your order number, please?"),
        _ => {
            out.push_str("We have ");
            let (_, past, _) = rng.pick(EN_VERBS);
            out.push_str(past);
            out.push_str(" your request; anything else?");
        }
    }
}

/// A message text: the client's (`inbound`) or the team's.
pub fn message(rng: &mut Rng, lang: Lang, inbound: bool) -> String {
    let mut out = String::with_capacity(120);
    match (lang, inbound) {
        (Lang::Ru, true) => ru_inbound(rng, &mut out),
        (Lang::Ru, false) => ru_outbound(rng, &mut out),
        (Lang::En, true) => en_inbound(rng, &mut out),
        (Lang::En, false) => en_outbound(rng, &mut out),
    }
    out
}

/// An internal note.
pub fn note(rng: &mut Rng, lang: Lang) -> String {
    let mut out = String::with_capacity(80);
    match lang {
        Lang::Ru => {
            out.push_str(rng.pick(&[
                "Клиент просит перезвонить",
                "Уточнить у склада",
                "Постоянный клиент, дать скидку",
                "Жалоба на курьера",
                "Проверить оплату",
            ]));
            out.push_str(" — ");
            ru_noun(rng, Case::Nom, false, &mut out);
            out.push_str(" №");
            push_number(rng, 1000, 99_999, &mut out);
        }
        Lang::En => {
            out.push_str(rng.pick(&[
                "Call the client back about the ",
                "Check with the warehouse: ",
                "Loyal client, offer a discount on the ",
            ]));
            out.push_str(en_noun(rng, false));
        }
    }
    out
}

const RU_MALE: &[&str] = &[
    "Александр",
    "Дмитрий",
    "Максим",
    "Сергей",
    "Андрей",
    "Алексей",
    "Иван",
    "Михаил",
    "Никита",
    "Егор",
    "Артём",
    "Павел",
    "Василий",
    "Олег",
];
const RU_FEMALE: &[&str] = &[
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Екатерина",
    "Татьяна",
    "Ирина",
    "Юлия",
    "Светлана",
    "Дарья",
    "Алина",
    "Ксения",
    "Полина",
];
/// Surnames in their masculine form; the feminine adds -а.
const RU_SURNAMES: &[&str] = &[
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Федоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семенов",
    "Егоров",
    "Павлов",
    "Козлов",
];
/// Latin spellings of the first names above, for usernames and emails.
const RU_MALE_LATIN: &[&str] = &[
    "alexander",
    "dmitry",
    "maxim",
    "sergey",
    "andrey",
    "alexey",
    "ivan",
    "mikhail",
    "nikita",
    "egor",
    "artem",
    "pavel",
    "vasya",
    "oleg",
];
const RU_FEMALE_LATIN: &[&str] = &[
    "anna",
    "maria",
    "elena",
    "olga",
    "natalia",
    "ekaterina",
    "tatiana",
    "irina",
    "yulia",
    "svetlana",
    "daria",
    "alina",
    "ksenia",
    "polina",
];
const EN_FIRST: &[&str] = &[
    "James", "Emma", "Oliver", "Olivia", "Jack", "Amelia", "Harry", "Isla", "George", "Ava",
    "Noah", "Mia", "Leo", "Grace",
];
const EN_LAST: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans",
    "Thomas", "Roberts", "Walker",
];
const MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "mail.ru",
    "yandex.ru",
    "inbox.ru",
    "outlook.com",
    "icloud.com",
];

/// A made-up person: what the channels tell us about a client.
#[derive(Debug, Clone)]
pub struct Person {
    /// As shown (`Иван Петров`); none for clients that never told their name.
    pub name: Option<String>,
    /// Lowercase latin handle (`ivan.petrov1988`), the base of usernames and emails.
    pub handle: String,
    /// `+7 912 345-67-89` (Russian) or `+44 7700 900123`.
    pub phone: String,
    /// Digits of the phone only, as WhatsApp names the user.
    pub phone_digits: String,
    pub email: String,
}

/// A random person speaking `lang`.
pub fn person(rng: &mut Rng, lang: Lang) -> Person {
    let year = 1960 + rng.below(47);
    let (name, first_latin) = match lang {
        Lang::Ru => {
            let female = rng.chance(0.5);
            let index = rng.below(14) as usize;
            let (first, latin) = if female {
                (RU_FEMALE[index], RU_FEMALE_LATIN[index])
            } else {
                (RU_MALE[index], RU_MALE_LATIN[index])
            };
            let surname = rng.pick(RU_SURNAMES);
            let full = if female {
                format!("{first} {surname}а")
            } else {
                format!("{first} {surname}")
            };
            (full, latin.to_owned())
        }
        Lang::En => {
            let first = rng.pick(EN_FIRST);
            (
                format!("{first} {}", rng.pick(EN_LAST)),
                first.to_lowercase(),
            )
        }
    };
    let handle = match rng.below(3) {
        0 => format!("{first_latin}{year}"),
        1 => format!("{first_latin}.{}", rng.below(1000)),
        _ => format!("{first_latin}_{}", year % 100),
    };
    let (phone, phone_digits) = match lang {
        Lang::Ru => {
            let (a, b, c, d) = (
                900 + rng.below(100),
                rng.below(1000),
                rng.below(100),
                rng.below(100),
            );
            (
                format!("+7 {a} {b:03}-{c:02}-{d:02}"),
                format!("7{a}{b:03}{c:02}{d:02}"),
            )
        }
        Lang::En => {
            let n = rng.below(1_000_000);
            (format!("+44 7700 {n:06}"), format!("447700{n:06}"))
        }
    };
    let email = format!("{handle}@{}", rng.pick(MAIL_DOMAINS));
    // Some clients never say who they are: the row shows the phone or the channel id.
    let name = (!rng.chance(0.12)).then_some(name);
    Person {
        name,
        handle,
        phone,
        phone_digits,
        email,
    }
}

/// Appends a decimal number in `low..=high`.
pub fn push_number(rng: &mut Rng, low: u64, high: u64, out: &mut String) {
    let value = low + rng.below(high.saturating_sub(low) + 1);
    out.push_str(&value.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nouns_decline_into_distinct_forms() {
        let mut rng = Rng::new(7);
        let mut forms = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let mut word = String::new();
            let case = [
                Case::Nom,
                Case::Gen,
                Case::Dat,
                Case::Acc,
                Case::Ins,
                Case::Pre,
            ][rng.below(6) as usize];
            let plural = rng.chance(0.5);
            ru_noun(&mut rng, case, plural, &mut word);
            forms.insert(word);
        }
        assert!(forms.contains("заказ") && forms.contains("заказы") && forms.contains("заказа"));
        assert!(forms.contains("доставки") && forms.contains("доставкой"));
        assert!(forms.len() > 150, "only {} forms", forms.len());
    }

    #[test]
    fn texts_are_valid_and_varied() {
        let mut rng = Rng::new(1);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..500 {
            let lang = if i % 2 == 0 { Lang::Ru } else { Lang::En };
            let text = message(&mut rng, lang, i % 3 != 0);
            assert!(!text.trim().is_empty());
            seen.insert(text);
        }
        assert!(seen.len() > 300);
        let person = person(&mut rng, Lang::Ru);
        assert!(person.email.contains('@'));
        assert!(person.phone.starts_with("+7 "));
    }
}
