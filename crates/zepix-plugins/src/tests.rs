//! Tests of the built-in table: order, unique ids, manifests that validate and defaults that build.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, json};
use zepix_plugin::{Runtime, Settings};

use crate::builtins;

#[test]
fn table_order_is_as_documented() {
    let ids: Vec<String> = builtins().iter().map(|b| (b.manifest)().id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "v3_combined",
            "v6_price_action_1m",
            "v6_price_action_5m",
            "v6_price_action_15m",
            "v6_price_action_1h",
            "signal_executor",
            "bollinger"
        ]
    );
}

#[test]
fn ids_are_unique() {
    let ids: BTreeSet<String> = builtins().iter().map(|b| (b.manifest)().id.to_string()).collect();
    assert_eq!(ids.len(), builtins().len());
}

#[test]
fn every_builtin_builds() {
    for builtin in builtins() {
        let manifest = (builtin.manifest)();
        let id = manifest.id.to_string();
        manifest.validate(Path::new("<builtin>")).unwrap_or_else(|e| panic!("{id}: {e:?}"));
        assert_eq!(manifest.runtime, Runtime::Builtin, "{id}");
        assert_eq!(manifest.version, "1.0.0", "{id}");
        assert!(manifest.description.len() > 40, "{id} needs a real description");
        for (key, rule) in &manifest.settings_schema {
            assert!(!rule.description.is_empty(), "{id}: setting `{key}` has no description");
            assert!(rule.default.is_some(), "{id}: setting `{key}` has no default");
        }
        let defaults = Settings::validate(&manifest.settings_schema, &Map::new())
            .unwrap_or_else(|e| panic!("{id}: defaults do not validate: {e:?}"));
        assert!((builtin.build)(&defaults).is_ok(), "{id}: defaults do not build");
    }
}

#[test]
fn unknown_settings_are_refused_before_build() {
    for builtin in builtins() {
        let manifest = (builtin.manifest)();
        let given = json!({"colour": "red"}).as_object().cloned().unwrap();
        let errors = Settings::validate(&manifest.settings_schema, &given).unwrap_err();
        assert_eq!(errors[0].key, "colour", "{}", manifest.id);
    }
}

#[test]
fn routing_data_matches_the_original_system() {
    // Strategy plugins take bars, not routed alerts.
    let routes: Vec<(String, Option<String>, Vec<String>)> = builtins()
        .iter()
        .filter(|b| (b.manifest)().roles.contains(&zepix_plugin::Role::Logic))
        .map(|b| {
            let m = (b.manifest)();
            (m.id.to_string(), m.strategy, m.timeframes.iter().map(ToString::to_string).collect())
        })
        .collect();
    let expect = |id: &str, strategy: &str, tfs: &[&str]| {
        (id.to_owned(), Some(strategy.to_owned()), tfs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    };
    assert_eq!(
        routes,
        [
            expect("v3_combined", "V3_COMBINED", &["5m", "15m", "1h"]),
            expect("v6_price_action_1m", "V6_PRICE_ACTION", &["1m"]),
            expect("v6_price_action_5m", "V6_PRICE_ACTION", &["5m"]),
            expect("v6_price_action_15m", "V6_PRICE_ACTION", &["15m"]),
            expect("v6_price_action_1h", "V6_PRICE_ACTION", &["1h"]),
            expect("signal_executor", "SIGNAL_EXECUTOR", &[]),
        ]
    );
}
