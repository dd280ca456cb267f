"""Who is told what, and how: audiences, mail, chat posts, the delivery seam, the health list."""
