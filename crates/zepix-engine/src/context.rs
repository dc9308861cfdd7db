//! The plugin context of built-in plugins: the service API scoped to one plugin. Every call is
//! checked against the manifest's capabilities and counted in that service's metrics.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use zepix_model::{
    CloseReason, Lots, PluginId, Position, PositionId, Price, Side, Signal, SignalId, Sizing, Symbol, Timeframe, Trade,
    Trend,
};
use zepix_plugin::chain::{DualPlan, ProfitChain, PyramidPlan, RecoveryCheck, ReentryChain, ReentryPlan, Shield};
use zepix_plugin::{
    DualPlaced, NotifyLevel, OrderIntent, Placed, PluginContext, Service, ServiceError, ServiceErrorCode,
};

use crate::metrics::ServiceMetrics;
use crate::registry::PluginMeta;
use crate::services::Services;

/// A plugin's view of the services for one call.
pub struct Ctx<'a> {
    meta: &'a PluginMeta,
    metrics: &'a mut ServiceMetrics,
    services: &'a mut Services,
    signal_id: Option<&'a SignalId>,
}

impl<'a> Ctx<'a> {
    /// A context for `meta`, counting into `metrics`; orders are linked to `signal_id`.
    pub fn new(
        meta: &'a PluginMeta,
        metrics: &'a mut ServiceMetrics,
        services: &'a mut Services,
        signal_id: Option<&'a SignalId>,
    ) -> Self {
        Self { meta, metrics, services, signal_id }
    }

    fn call<T>(
        &mut self,
        service: Service,
        f: impl FnOnce(&mut Services, &PluginMeta, Option<&SignalId>) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let start = Instant::now();
        let result = if self.meta.allows(service.capability()) {
            f(self.services, self.meta, self.signal_id)
        } else {
            Err(capability_denied(self.meta, service))
        };
        let denied = result.as_ref().err().is_some_and(|e| e.risk_code().is_some());
        let error = result.is_err() && !denied;
        self.metrics.entry(service).record(start.elapsed(), error, denied);
        result
    }
}

fn capability_denied(meta: &PluginMeta, service: Service) -> ServiceError {
    ServiceError {
        service,
        code: ServiceErrorCode::CapabilityDenied,
        message: format!(
            "plugin {} may not use {service}: add \"{}\" to the manifest's capabilities",
            meta.id(),
            service.capability()
        ),
    }
}

impl PluginContext for Ctx<'_> {
    fn plugin_id(&self) -> &PluginId {
        self.meta.id()
    }

    fn now(&self) -> DateTime<Utc> {
        self.services.now()
    }

    fn place_order(&mut self, intent: OrderIntent) -> Result<Placed, ServiceError> {
        self.call(Service::Orders, |s, m, sig| s.place_order(m, intent, sig))
    }

    fn modify_position(
        &mut self,
        id: PositionId,
        sl: Option<Price>,
        tp: Option<Price>,
    ) -> Result<Position, ServiceError> {
        self.call(Service::Orders, |s, m, _| s.modify_position(m, id, sl, tp))
    }

    fn close_position(&mut self, id: PositionId) -> Result<Trade, ServiceError> {
        self.call(Service::Orders, |s, m, _| s.close_position(Some(m), id, CloseReason::Manual))
    }

    fn close_positions(&mut self, symbol: &Symbol, side: Option<Side>) -> Result<Vec<Trade>, ServiceError> {
        self.call(Service::Orders, |s, m, _| s.close_positions(m, symbol, side, CloseReason::Signal))
    }

    fn positions(&mut self, symbol: Option<&Symbol>) -> Result<Vec<Position>, ServiceError> {
        self.call(Service::Positions, |s, m, _| Ok(s.positions_of(m.id(), symbol)))
    }

    fn lot_size(&mut self, symbol: &Symbol, entry: Price, sl: Price, sizing: Sizing) -> Result<Lots, ServiceError> {
        self.call(Service::Risk, |s, _, _| s.lot_size(symbol, entry, sl, sizing))
    }

    fn last_price(&mut self, symbol: &Symbol) -> Result<Option<Price>, ServiceError> {
        self.call(Service::Market, |s, _, _| Ok(s.last_price(symbol)))
    }

    fn trend(&mut self, symbol: &Symbol, timeframe: Timeframe) -> Result<Trend, ServiceError> {
        self.call(Service::Trend, |s, _, _| Ok(s.trend(symbol, timeframe)))
    }

    fn notify(&mut self, level: NotifyLevel, message: &str) -> Result<(), ServiceError> {
        self.call(Service::Notify, |s, m, _| {
            s.notify(m.id(), level, message);
            Ok(())
        })
    }

    fn emit_signal(&mut self, signal: Signal) -> Result<(), ServiceError> {
        self.call(Service::Signals, |s, m, _| {
            s.emit(m.id().clone(), signal);
            Ok(())
        })
    }

    fn place_dual_order(&mut self, intent: OrderIntent, plan: DualPlan) -> Result<DualPlaced, ServiceError> {
        // Order B starts a profit chain: the plugin needs both capabilities.
        self.call(Service::DualOrder, |s, m, sig| {
            if !m.allows(Service::ProfitBooking.capability()) {
                return Err(capability_denied(m, Service::ProfitBooking));
            }
            s.place_dual(m, intent, plan, sig)
        })
    }

    fn start_profit_chain(&mut self, intent: OrderIntent, plan: PyramidPlan) -> Result<ProfitChain, ServiceError> {
        self.call(Service::ProfitBooking, |s, m, sig| s.start_chain(m, &intent, plan, sig))
    }

    fn profit_chains(&mut self) -> Result<Vec<ProfitChain>, ServiceError> {
        self.call(Service::ProfitBooking, |s, m, _| Ok(s.chains_of(m.id())))
    }

    fn start_reentry(&mut self, position: PositionId, plan: ReentryPlan) -> Result<ReentryChain, ServiceError> {
        self.call(Service::Reentry, |s, m, _| s.start_reentry(m, position, plan))
    }

    fn reentry_chains(&mut self) -> Result<Vec<ReentryChain>, ServiceError> {
        self.call(Service::Reentry, |s, m, _| Ok(s.reentries_of(m.id())))
    }

    fn shield_position(&mut self, position: PositionId, share: rust_decimal::Decimal) -> Result<Shield, ServiceError> {
        self.call(Service::Safety, |s, m, _| s.start_shield(m, position, share))
    }

    fn check_recovery_allowed(&mut self, symbol: &Symbol) -> Result<RecoveryCheck, ServiceError> {
        self.call(Service::Safety, |s, m, _| Ok(s.check_recovery(m.id(), symbol)))
    }

    fn db_execute(&mut self, sql: &str, params: &[Value]) -> Result<usize, ServiceError> {
        self.call(Service::Db, |s, m, _| s.db_execute(m.id(), sql, params))
    }

    fn db_query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Map<String, Value>>, ServiceError> {
        self.call(Service::Db, |s, m, _| s.db_query(m.id(), sql, params))
    }
}
