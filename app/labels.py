"""Words shown for stored codes (kinds, statuses, categories...), translated at display time."""

from flask_babel import lazy_gettext as _l

KINDS = {
    "information": _l("Information"),
    "contact": _l("Contact"),
    "ad": _l("Ad"),
}

STATUSES = {
    "pending": _l("Waiting for moderation"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "withdrawn": _l("Withdrawn"),
}

PURPOSES = {
    "job": _l("Offer a job"),
    "housing": _l("Offer housing"),
    "legal": _l("Legal help"),
    "volunteer": _l("Volunteer"),
    "media": _l("Media contact"),
    "other": _l("Other help"),
}

CATEGORIES = {
    "job_wanted": _l("Looking for work"),
    "housing": _l("Housing"),
    "services": _l("Services"),
    "goods": _l("Goods"),
    "help_needed": _l("Help needed"),
    "other": _l("Other"),
}

REJECT_REASONS = {
    "needs_changes": _l("It needs changes: edit it and send it again"),
    "spam": _l("Spam or advertising unrelated to our work"),
    "unsafe": _l("It could put someone in danger"),
    "personal_data": _l("It contains someone's personal data"),
    "off_topic": _l("It is not something we can publish or act on"),
    "duplicate": _l("We already have the same submission"),
    "unverifiable": _l("We could not verify it"),
    "other": _l("Another reason (see the note)"),
}

# Reasons that only an ad can be given: its owner can edit it at /status (owner.edit).
AD_ONLY_REASONS = ("needs_changes",)

# What an audit event's action means, as a sentence fragment: "<actor> <action>".
ACTIONS = {
    "submitted": _l("sent it"),
    "claimed": _l("took it for review"),
    "approved": _l("approved it"),
    "taken_on": _l("took it on as a case"),
    "assigned": _l("assigned the case"),
    "noted": _l("added a note"),
    "messaged": _l("wrote to the sender"),
    "answered": _l("answered"),
    "answers_read": _l("read the answers"),
    "done": _l("marked the case done"),
    "forgotten": _l("marked the case done and forgot the contact"),
    "resubmitted": _l("changed the ad and sent it again"),
    "deleted": _l("deleted it"),
    "rejected": _l("rejected it"),
    "edited": _l("edited it"),
    "undone": _l("undid the decision"),
    "withdrawn": _l("withdrew it"),
    "reported": _l("reported it"),
    "returned": _l("sent it back to the queue after reports"),
    "renewed": _l("renewed the ad"),
    "closed": _l("closed the ad"),
    "purged": _l("deleted old items for good"),
    "article_saved": _l("saved an article"),
    "signed_in": _l("signed in"),
    "password_changed": _l("changed the password"),
    "totp_enabled": _l("set up two-step sign-in"),
    "totp_replaced": _l("replaced the authenticator app"),
    "user_created": _l("created an account"),
    "user_changed": _l("changed an account"),
    "sessions_ended": _l("ended sessions"),
    "epochs_granted": _l("gave an account access to older items"),
    "recovery_key_set": _l("began to seal to the recovery key"),
    "recovery_key_differs": _l("found a different recovery key configured, and did not use it"),
    "recovery_key_replaced": _l("switched to the configured recovery key"),
    "recovery_sealed": _l("sealed older items to the recovery key"),
    "grants_imported": _l("imported access to older items from a recovery"),
    "sealed_existing": _l("sealed what was stored before sealing"),
    "revealed": _l("looked at the Telegram username"),
    "clock_renewed": _l("kept it longer"),
    "hidden": _l("hid our messages on the status page"),
    "expired": _l("deleted it: nobody had finished it in time"),
}

# Why a staff member keeps an item past its clock (app/submissions/clocks.py).
RENEW_REASONS = {
    "in_progress": _l("Someone is working on it"),
    "waiting": _l("We are waiting for an answer"),
    "needs_time": _l("Checking it takes longer"),
}

# Why a staff member asks to see a submitter's Telegram username (sealed like a note: app/submissions/reveals.py).
REVEAL_REASONS = {
    "contact": _l("To write to the sender"),
    "check": _l("To check that the sender is who they say"),
    "case": _l("To follow up the case"),
}

REPORT_REASONS = {
    "spam": _l("Spam or unrelated advertising"),
    "scam": _l("It asks for money or looks like fraud"),
    "offensive": _l("Offensive or hateful"),
    "personal_data": _l("It reveals someone's personal data"),
    "other": _l("Something else"),
}

# What a staff member read (app/submissions/reads.py).
READS = {
    "item": _l("opened the item"),
    "file": _l("downloaded a file"),
    "preview": _l("looked at a preview"),
    "search": _l("searched the queue"),
}
