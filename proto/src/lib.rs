//! FTP protocol
