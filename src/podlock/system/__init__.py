"""System (Debian) packages: locked from the base image's distribution, installed from the
lock as one deterministic layer, with no apt and no maintainer scripts."""
