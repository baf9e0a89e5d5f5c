"""E-mail intake: complaints and replies that arrive in a mailbox, read over IMAP by the worker."""
