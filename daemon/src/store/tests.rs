//! The store's commits survive reopening.

use std::sync::Arc;

use super::{Batch, CommitObserver, Committer, Store, key, prefix};

struct Nothing;
impl CommitObserver for Nothing {
    fn committed(&self, _: usize, _: f64) {}
}

#[tokio::test]
async fn committed_writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let (committer, task) = Committer::new(store.clone(), Arc::new(Nothing));
        let task = tokio::spawn(task.run());
        let mut batch = Batch::default();
        batch.put(key(prefix::META, &[b"x"]), &42u64);
        store.apply(batch).unwrap();
        committer.commit().await.unwrap();
        drop(committer);
        task.await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.get::<u64>(&key(prefix::META, &[b"x"])).unwrap(),
        Some(42)
    );
}
