//! SASL/OAUTHBEARER's token: asked of the application with
//! [`Event::OAuthBearerTokenRequired`] when a connection needs one and none
//! was given, and again when 80 % of the current token's life has passed
//! (the refresh point of Kafka's `sasl.login.refresh.window.factor`), so a
//! fresh token is there before re-authentications need it. Asked once
//! until answered. With an unsecured JWT configured
//! ([`crate::config::UnsecuredJwt`]), the producer makes the token itself
//! at those moments instead.

use super::{Producer, State};
#[cfg(feature = "unsecured-jwt")]
use crate::config::SaslCredentials;
use crate::event::{ConnectionId, Event};
use crate::sasl::{InvalidToken, Mechanism, OAuthBearerToken};
use crate::time::Instant;

impl<T> Producer<T> {
    /// Gives the producer the SASL/OAUTHBEARER token to authenticate with,
    /// in answer to [`Event::OAuthBearerTokenRequired`] (or before any is
    /// asked). Connections waiting for a token go on with this one; the
    /// others use it when they next re-authenticate. Refused, and nothing
    /// changed, when the token cannot be sent
    /// ([`OAuthBearerToken::validate`]) or has expired.
    pub fn set_oauthbearer_token(
        &mut self,
        token: OAuthBearerToken,
        now: Instant,
    ) -> Result<(), InvalidToken> {
        token.validate()?;
        if token.expires_at <= now {
            return Err(InvalidToken::Expired);
        }
        self.quiet_until = None;
        self.last_now = self.last_now.max(now);
        self.sasl.token = Some((token, now));
        self.sasl.token_requested = false;
        self.maintain(now);
        Ok(())
    }

    /// When the current token should be replaced: 80 % of its life.
    fn token_refresh_at(&self) -> Option<Instant> {
        let (token, since) = self.sasl.token.as_ref()?;
        let life = token.expires_at.saturating_duration_since(*since);
        Some(*since + life.mul_f64(0.8))
    }

    /// Asks for (or makes) a token when a connection waits for one or the
    /// current one is due for refresh. Part of `maintain`.
    pub(super) fn request_token(&mut self, now: Instant) {
        if self
            .sasl
            .token
            .as_ref()
            .is_some_and(|(t, _)| t.expires_at <= now)
        {
            // Spent: no exchange may send it; the next one is asked for
            // below (or already was) if a connection waits.
            self.sasl.token = None;
        }
        let Some(sasl) = self.config.sasl() else {
            return;
        };
        if sasl.mechanism() != Mechanism::OAuthBearer
            || self.sasl.token_requested
            || !matches!(self.state, State::Running | State::Closing)
        {
            return;
        }
        let needed = match self.sasl.token {
            None => self
                .conns
                .values()
                .any(|c| c.auth.as_ref().is_some_and(|a| a.awaits_token())),
            Some(_) => self.token_refresh_at().is_some_and(|at| at <= now),
        };
        if !needed {
            return;
        }
        #[cfg(feature = "unsecured-jwt")]
        if let SaslCredentials::UnsecuredJwt(jwt) = sasl.credentials() {
            let lifetime = u64::try_from(jwt.lifetime.as_millis()).unwrap_or(u64::MAX);
            let issued = u64::try_from(crate::time::unix_millis(now)).unwrap_or(0);
            let value = crate::sasl::oauthbearer::unsecured_jwt(
                &jwt.principal,
                &jwt.scope,
                issued,
                lifetime,
            );
            // The JWT's `exp` is in whole seconds, rounded down: the
            // token expires then, up to a second before `lifetime` ends.
            let exp_ms = issued.saturating_add(lifetime) / 1000 * 1000;
            let life = core::time::Duration::from_millis(exp_ms.saturating_sub(issued));
            let mut token = OAuthBearerToken::new(value, now + life);
            token.extensions = jwt.extensions.clone();
            self.sasl.token = Some((token, now));
            self.quiet_until = None;
            return;
        }
        self.sasl.token_requested = true;
        self.events.push_back(Event::OAuthBearerTokenRequired);
    }

    /// When the token falls due for refresh, if it is not asked for yet.
    pub(super) fn token_due(&self) -> Option<Instant> {
        // Mirrors `request_token`, so that a due refresh that will not be
        // asked for wakes nothing.
        let asks = self
            .config
            .sasl()
            .is_some_and(|s| s.mechanism() == Mechanism::OAuthBearer);
        if self.sasl.token_requested
            || !asks
            || !matches!(self.state, State::Running | State::Closing)
        {
            return None;
        }
        self.token_refresh_at()
    }

    /// Whether connection `id` is about to send something of its SASL
    /// exchange (a token it waited for is there now, or a request is due).
    pub(super) fn authentication_pending(&self, id: ConnectionId) -> bool {
        self.conns
            .get(&id)
            .and_then(|c| c.auth.as_ref())
            .is_some_and(|a| a.has_request() || (a.awaits_token() && self.sasl.token.is_some()))
    }
}
