"""Payload models of every command and event: the single source of the message contracts."""

from __future__ import annotations

from pydantic import BaseModel

from tj_common.contracts import billing, imports, trades

# type name -> payload model; consumers validate with the model of the envelope's type.
PAYLOADS: dict[str, type[BaseModel]] = {
    trades.RECORD_EXECUTIONS: trades.RecordExecutions,
    trades.EXECUTIONS_RECORDED: trades.ExecutionsRecorded,
    trades.COMMAND_REJECTED: trades.CommandRejected,
    trades.CREATE_ACCOUNT: trades.CreateAccount,
    trades.UPDATE_ACCOUNT: trades.UpdateAccount,
    trades.DELETE_ACCOUNT: trades.DeleteAccount,
    trades.ACCOUNT_CREATED: trades.AccountCreated,
    trades.ACCOUNT_UPDATED: trades.AccountUpdated,
    trades.ACCOUNT_DELETED: trades.AccountDeleted,
    trades.ANNOTATE_TRADE: trades.AnnotateTrade,
    trades.TRADE_ANNOTATED: trades.TradeAnnotated,
    trades.RECORD_MANUAL_TRADE: trades.RecordManualTrade,
    trades.MANUAL_TRADE_RECORDED: trades.ManualTradeRecorded,
    trades.STAGE_IMPORT_BATCH: trades.StageImportBatch,
    trades.IMPORT_BATCH_STAGED: trades.ImportBatchStaged,
    trades.COMMIT_IMPORT: trades.CommitImport,
    trades.IMPORT_COMMITTED: trades.ImportCommitted,
    trades.DISCARD_IMPORT: trades.DiscardImport,
    trades.IMPORT_DISCARDED: trades.ImportDiscarded,
    trades.REVERT_IMPORT: trades.RevertImport,
    trades.IMPORT_REVERTED: trades.ImportReverted,
    imports.START_IMPORT: imports.StartImport,
    imports.CANCEL_IMPORT: imports.CancelImport,
    imports.REVERT_IMPORT: imports.RevertImport,
    imports.SAVE_COLUMN_MAPPING: imports.SaveColumnMapping,
    imports.IMPORT_ACCEPTED: imports.ImportAccepted,
    imports.IMPORT_PROGRESSED: imports.ImportProgressed,
    imports.IMPORT_COMPLETED: imports.ImportCompleted,
    imports.IMPORT_FAILED: imports.ImportFailed,
    imports.IMPORT_REVERTED: imports.ImportReverted,
    imports.COLUMN_MAPPING_SAVED: imports.ColumnMappingSaved,
    imports.COMMAND_REJECTED: imports.CommandRejected,
    billing.ENTITLEMENTS_CHANGED: billing.EntitlementsChanged,
    billing.WEBHOOK_RECEIVED: billing.WebhookReceived,
    billing.CREATE_SUBSCRIPTION: billing.CreateSubscription,
    billing.VERIFY_CHECKOUT: billing.VerifyCheckout,
    billing.CANCEL_SUBSCRIPTION: billing.CancelSubscription,
    billing.SUBSCRIPTION_CREATED: billing.SubscriptionCreated,
    billing.CHECKOUT_VERIFIED: billing.CheckoutVerified,
    billing.SUBSCRIPTION_CANCELLED: billing.SubscriptionCancelled,
    billing.COMMAND_REJECTED: billing.CommandRejected,
}

__all__ = ["PAYLOADS", "billing", "imports", "trades"]
