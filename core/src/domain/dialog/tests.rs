//! The state's own tests: applying owned events agrees with applying borrowed ones.

use super::*;

#[test]
fn applying_owned_events_gives_the_same_state() {
    let channel = ChannelId::new();
    let identity = ChannelIdentity {
        channel,
        kind: ChannelKind::Telegram,
        external_id: "42".into(),
    };
    let received = |n: usize| {
        Event::MessageReceived(MessageReceived {
            message: MessageId::new(),
            channel,
            external_id: format!("m{n}"),
            text: "hello".into(),
            attachments: vec![],
            reply_to: None,
            sent_at: Timestamp::from_micros(1),
        })
    };
    let mut events = vec![Event::DialogRegistered(DialogRegistered {
        profile: ClientProfile::default(),
        source: Source::default(),
        identity: Some(identity),
    })];
    events.extend((0..RECENT_MESSAGES + 3).map(received));
    events.push(Event::DialogClosed(DialogClosed {}));
    events.push(received(1));
    let (mut by_ref, mut owned) = (DialogState::default(), DialogState::default());
    for event in events {
        by_ref.apply(&event);
        owned.apply_owned(event);
        assert_eq!(by_ref, owned);
    }
}
