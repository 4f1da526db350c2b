//! The success side of the envelope (CONTRACT §1).

use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Success<T> {
    /// Always `"success"`.
    #[schema(example = "success")]
    pub status: &'static str,
    pub data: T,
}

impl<T> Success<T> {
    pub fn new(data: T) -> Self {
        Success { status: "success", data }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    #[schema(example = "success")]
    pub status: &'static str,
    pub data: Vec<T>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pagination {
    pub page: i64,
    /// The page size used, after capping at 100.
    pub per_page: i64,
    pub total: i64,
    /// ceil(total / per_page); 0 when total is 0.
    pub total_pages: i64,
}

impl Pagination {
    pub fn new(page: i64, per_page: i64, total: i64) -> Self {
        let total_pages = if total == 0 { 0 } else { (total + per_page - 1) / per_page };
        Pagination { page, per_page, total, total_pages }
    }
}

#[cfg(test)]
mod tests {
    use super::Pagination;

    #[test]
    fn total_pages_rounds_up_and_is_zero_when_empty() {
        assert_eq!(Pagination::new(1, 20, 45).total_pages, 3);
        assert_eq!(Pagination::new(1, 20, 40).total_pages, 2);
        assert_eq!(Pagination::new(1, 20, 0).total_pages, 0);
        assert_eq!(Pagination::new(1, 100, 1).total_pages, 1);
    }
}
