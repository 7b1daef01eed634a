"""Event intake from customer-data platforms: their messages become users and events."""
