//! The preview 1 host calls of [`TreeCtx`]: the few the tree changes, and
//! the rest handed to wasmtime-wasi as they are.

use wasmtime_wasi::p1::types;
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
use wiggle::{GuestMemory, GuestPtr};

use super::{FIRST_PREOPEN, PATH_MAX, Target, TreeCtx, mount_fd, scratch, write_dirents};
use crate::guest_tree::symlink_stays_home;

/// Runs `$call` with `$mem`, `$fd` and `$p` bound to where the path call
/// of `$path` relative to `$dirfd` goes: the guest's own memory,
/// descriptor and path, or host memory holding the routed path and the
/// descriptor of its mount.
macro_rules! on_path {
    ($self:ident, $memory:ident, $dirfd:ident, $path:ident, |$mem:ident, $fd:ident, $p:ident| $call:expr) => {{
        $self.settle($dirfd).await;
        let target = $self.target($dirfd, &$memory.as_cow_str($path)?)?;
        match target {
            Target::AsGiven | Target::Direct { .. } => {
                let ($mem, $fd, $p) = (&mut *$memory, $dirfd, $path);
                $call
            }
            Target::Routed { mount, rel, .. } => {
                let (mut bytes, pointers) = scratch(&[&rel], 0);
                let ($mem, $fd, $p) = (
                    &mut GuestMemory::Unshared(&mut bytes),
                    mount_fd(mount),
                    pointers[0],
                );
                $call
            }
        }
    }};
}

/// Hands the calls the tree does not change to wasmtime-wasi as they are.
macro_rules! unchanged {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)* $(async fn $aname:ident($($aarg:ident: $aty:ty),*) -> $aret:ty;)*) => {
        $(
            fn $name(&mut self, memory: &mut GuestMemory<'_>, $($arg: $ty),*) -> $ret {
                self.inner.$name(memory, $($arg),*)
            }
        )*
        $(
            async fn $aname(&mut self, memory: &mut GuestMemory<'_>, $($aarg: $aty),*) -> $aret {
                self.inner.$aname(memory, $($aarg),*).await
            }
        )*
    };
}

impl WasiSnapshotPreview1 for TreeCtx {
    fn set_hostcall_fuel(&mut self, fuel: usize) {
        self.inner.set_hostcall_fuel(fuel);
    }

    fn fd_prestat_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<types::Prestat, types::Error> {
        if let Some(tree) = &self.tree {
            let fd = u32::from(fd);
            let last = FIRST_PREOPEN + tree.table.points().len() as u32;
            if fd > FIRST_PREOPEN && fd < last {
                // Reached through `/`, not by a name of its own.
                return Err(types::Errno::Badf.into());
            }
        }
        self.inner.fd_prestat_get(memory, fd)
    }

    async fn fd_close(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<(), types::Error> {
        if self.is_preopen(fd) {
            return Err(types::Errno::Notsup.into());
        }
        self.inner.fd_close(memory, fd).await?;
        self.closed(u32::from(fd));
        Ok(())
    }

    async fn fd_renumber(
        &mut self,
        memory: &mut GuestMemory<'_>,
        from_fd: types::Fd,
        to_fd: types::Fd,
    ) -> Result<(), types::Error> {
        if self.is_preopen(from_fd) || self.is_preopen(to_fd) {
            return Err(types::Errno::Notsup.into());
        }
        self.inner.fd_renumber(memory, from_fd, to_fd).await?;
        if let Some(tree) = &mut self.tree {
            let (from, to) = (u32::from(from_fd), u32::from(to_fd));
            if tree
                .listing
                .as_ref()
                .is_some_and(|(kept, _)| *kept == from || *kept == to)
            {
                tree.listing = None;
            }
            tree.paths.remove(&to);
            tree.unsure.remove(&to);
            if let Some(path) = tree.paths.remove(&from) {
                tree.paths.insert(to, path);
            }
            if let Some(path) = tree.unsure.remove(&from) {
                tree.unsure.insert(to, path);
            }
        }
        Ok(())
    }

    async fn fd_readdir(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        buf: GuestPtr<u8>,
        buf_len: types::Size,
        cookie: types::Dircookie,
    ) -> Result<types::Size, types::Error> {
        self.settle(fd).await;
        let children = self.mount_children(fd);
        if children.is_empty() {
            return self
                .inner
                .fd_readdir(memory, fd, buf, buf_len, cookie)
                .await;
        }
        let kept = self
            .tree
            .as_ref()
            .and_then(|tree| tree.listing.as_ref())
            .is_some_and(|(kept, _)| *kept == u32::from(fd));
        if cookie == 0 || !kept {
            let entries = self.listing(fd, children).await?;
            if let Some(tree) = &mut self.tree {
                tree.listing = Some((u32::from(fd), entries));
            }
        }
        let entries = self
            .tree
            .as_ref()
            .and_then(|tree| tree.listing.as_ref())
            .map_or(&[][..], |(_, entries)| entries.as_slice());
        write_dirents(memory, entries, buf, buf_len, cookie)
    }

    async fn path_open(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        dirflags: types::Lookupflags,
        path: GuestPtr<str>,
        oflags: types::Oflags,
        fs_rights_base: types::Rights,
        fs_rights_inheriting: types::Rights,
        fdflags: types::Fdflags,
    ) -> Result<types::Fd, types::Error> {
        self.settle(dirfd).await;
        let target = self.target(dirfd, &memory.as_cow_str(path)?)?;
        let (fd, guest) = match target {
            Target::AsGiven => {
                return self
                    .inner
                    .path_open(
                        memory,
                        dirfd,
                        dirflags,
                        path,
                        oflags,
                        fs_rights_base,
                        fs_rights_inheriting,
                        fdflags,
                    )
                    .await;
            }
            Target::Direct { guest, .. } => {
                let fd = self
                    .inner
                    .path_open(
                        memory,
                        dirfd,
                        dirflags,
                        path,
                        oflags,
                        fs_rights_base,
                        fs_rights_inheriting,
                        fdflags,
                    )
                    .await?;
                (fd, guest)
            }
            Target::Routed { guest, mount, rel } => {
                let (mut bytes, pointers) = scratch(&[&rel], 0);
                let fd = self
                    .inner
                    .path_open(
                        &mut GuestMemory::Unshared(&mut bytes),
                        mount_fd(mount),
                        dirflags,
                        pointers[0],
                        oflags,
                        fs_rights_base,
                        fs_rights_inheriting,
                        fdflags,
                    )
                    .await?;
                (fd, guest)
            }
        };
        self.opened(fd, guest, oflags.contains(types::Oflags::DIRECTORY));
        Ok(fd)
    }

    async fn path_create_directory(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        on_path!(self, memory, dirfd, path, |mem, fd, p| self
            .inner
            .path_create_directory(mem, fd, p)
            .await)
    }

    async fn path_filestat_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        flags: types::Lookupflags,
        path: GuestPtr<str>,
    ) -> Result<types::Filestat, types::Error> {
        on_path!(self, memory, dirfd, path, |mem, fd, p| self
            .inner
            .path_filestat_get(mem, fd, flags, p)
            .await)
    }

    async fn path_filestat_set_times(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        flags: types::Lookupflags,
        path: GuestPtr<str>,
        atim: types::Timestamp,
        mtim: types::Timestamp,
        fst_flags: types::Fstflags,
    ) -> Result<(), types::Error> {
        on_path!(self, memory, dirfd, path, |mem, fd, p| self
            .inner
            .path_filestat_set_times(mem, fd, flags, p, atim, mtim, fst_flags)
            .await)
    }

    async fn path_remove_directory(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        on_path!(self, memory, dirfd, path, |mem, fd, p| self
            .inner
            .path_remove_directory(mem, fd, p)
            .await)
    }

    async fn path_unlink_file(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        on_path!(self, memory, dirfd, path, |mem, fd, p| self
            .inner
            .path_unlink_file(mem, fd, p)
            .await)
    }

    async fn path_readlink(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        path: GuestPtr<str>,
        buf: GuestPtr<u8>,
        buf_len: types::Size,
    ) -> Result<types::Size, types::Error> {
        self.settle(dirfd).await;
        let target = self.target(dirfd, &memory.as_cow_str(path)?)?;
        let Target::Routed { mount, rel, .. } = target else {
            return self
                .inner
                .path_readlink(memory, dirfd, path, buf, buf_len)
                .await;
        };
        // A link's target is short; room for more than 64 KiB of it is
        // not made.
        let room = buf_len.min(64 << 10);
        let (mut bytes, pointers) = scratch(&[&rel], room);
        let at = rel.len() as u32;
        let n = self
            .inner
            .path_readlink(
                &mut GuestMemory::Unshared(&mut bytes),
                mount_fd(mount),
                pointers[0],
                GuestPtr::new(at),
                room,
            )
            .await?;
        let start = at as usize;
        memory.copy_from_slice(&bytes[start..start + n as usize], buf.as_array(n))?;
        Ok(n)
    }

    async fn path_link(
        &mut self,
        memory: &mut GuestMemory<'_>,
        src_fd: types::Fd,
        src_flags: types::Lookupflags,
        src_path: GuestPtr<str>,
        target_fd: types::Fd,
        target_path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        self.settle(src_fd).await;
        self.settle(target_fd).await;
        let Some((mut bytes, [(src_fd, src_path), (target_fd, target_path)])) =
            self.two_paths(memory, (src_fd, src_path), (target_fd, target_path))?
        else {
            return self
                .inner
                .path_link(memory, src_fd, src_flags, src_path, target_fd, target_path)
                .await;
        };
        self.inner
            .path_link(
                &mut GuestMemory::Unshared(&mut bytes),
                src_fd,
                src_flags,
                src_path,
                target_fd,
                target_path,
            )
            .await
    }

    async fn path_rename(
        &mut self,
        memory: &mut GuestMemory<'_>,
        src_fd: types::Fd,
        src_path: GuestPtr<str>,
        dest_fd: types::Fd,
        dest_path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        self.settle(src_fd).await;
        self.settle(dest_fd).await;
        let Some((mut bytes, [(src_fd, src_path), (dest_fd, dest_path)])) =
            self.two_paths(memory, (src_fd, src_path), (dest_fd, dest_path))?
        else {
            return self
                .inner
                .path_rename(memory, src_fd, src_path, dest_fd, dest_path)
                .await;
        };
        self.inner
            .path_rename(
                &mut GuestMemory::Unshared(&mut bytes),
                src_fd,
                src_path,
                dest_fd,
                dest_path,
            )
            .await
    }

    async fn path_symlink(
        &mut self,
        memory: &mut GuestMemory<'_>,
        src_path: GuestPtr<str>,
        dirfd: types::Fd,
        dest_path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        if src_path.len() as usize > PATH_MAX {
            return Err(types::Errno::Nametoolong.into());
        }
        let link_target = memory.as_cow_str(src_path)?.into_owned();
        if self.tree.is_some() && !symlink_stays_home(&link_target) {
            return Err(types::Errno::Perm.into());
        }
        self.settle(dirfd).await;
        let target = self.target(dirfd, &memory.as_cow_str(dest_path)?)?;
        let Target::Routed { mount, rel, .. } = target else {
            return self
                .inner
                .path_symlink(memory, src_path, dirfd, dest_path)
                .await;
        };
        let (mut bytes, pointers) = scratch(&[&link_target, &rel], 0);
        self.inner
            .path_symlink(
                &mut GuestMemory::Unshared(&mut bytes),
                pointers[0],
                mount_fd(mount),
                pointers[1],
            )
            .await
    }

    unchanged! {
        fn args_get(argv: GuestPtr<GuestPtr<u8>>, argv_buf: GuestPtr<u8>) -> Result<(), types::Error>;
        fn args_sizes_get() -> Result<(types::Size, types::Size), types::Error>;
        fn environ_get(environ: GuestPtr<GuestPtr<u8>>, environ_buf: GuestPtr<u8>) -> Result<(), types::Error>;
        fn environ_sizes_get() -> Result<(types::Size, types::Size), types::Error>;
        fn clock_res_get(id: types::Clockid) -> Result<types::Timestamp, types::Error>;
        fn clock_time_get(id: types::Clockid, precision: types::Timestamp) -> Result<types::Timestamp, types::Error>;
        fn fd_allocate(fd: types::Fd, offset: types::Filesize, len: types::Filesize) -> Result<(), types::Error>;
        fn fd_fdstat_set_flags(fd: types::Fd, flags: types::Fdflags) -> Result<(), types::Error>;
        fn fd_tell(fd: types::Fd) -> Result<types::Filesize, types::Error>;
        fn proc_exit(status: types::Exitcode) -> wasmtime::Error;
        fn proc_raise(sig: types::Signal) -> Result<(), types::Error>;
        fn random_get(buf: GuestPtr<u8>, buf_len: types::Size) -> Result<(), types::Error>;
        fn sock_accept(fd: types::Fd, flags: types::Fdflags) -> Result<types::Fd, types::Error>;
        fn sock_recv(fd: types::Fd, ri_data: types::IovecArray, ri_flags: types::Riflags) -> Result<(types::Size, types::Roflags), types::Error>;
        fn sock_send(fd: types::Fd, si_data: types::CiovecArray, si_flags: types::Siflags) -> Result<types::Size, types::Error>;
        fn sock_shutdown(fd: types::Fd, how: types::Sdflags) -> Result<(), types::Error>;
        fn fd_fdstat_set_rights(fd: types::Fd, fs_rights_base: types::Rights, fs_rights_inheriting: types::Rights) -> Result<(), types::Error>;
        fn fd_prestat_dir_name(fd: types::Fd, path: GuestPtr<u8>, path_max_len: types::Size) -> Result<(), types::Error>;
        fn sched_yield() -> Result<(), types::Error>;
        async fn fd_advise(fd: types::Fd, offset: types::Filesize, len: types::Filesize, advice: types::Advice) -> Result<(), types::Error>;
        async fn fd_datasync(fd: types::Fd) -> Result<(), types::Error>;
        async fn fd_fdstat_get(fd: types::Fd) -> Result<types::Fdstat, types::Error>;
        async fn fd_filestat_get(fd: types::Fd) -> Result<types::Filestat, types::Error>;
        async fn fd_filestat_set_size(fd: types::Fd, size: types::Filesize) -> Result<(), types::Error>;
        async fn fd_read(fd: types::Fd, iovs: types::IovecArray) -> Result<types::Size, types::Error>;
        async fn fd_pread(fd: types::Fd, iovs: types::IovecArray, offset: types::Filesize) -> Result<types::Size, types::Error>;
        async fn fd_write(fd: types::Fd, ciovs: types::CiovecArray) -> Result<types::Size, types::Error>;
        async fn fd_pwrite(fd: types::Fd, ciovs: types::CiovecArray, offset: types::Filesize) -> Result<types::Size, types::Error>;
        async fn fd_seek(fd: types::Fd, offset: types::Filedelta, whence: types::Whence) -> Result<types::Filesize, types::Error>;
        async fn fd_sync(fd: types::Fd) -> Result<(), types::Error>;
        async fn fd_filestat_set_times(fd: types::Fd, atim: types::Timestamp, mtim: types::Timestamp, fst_flags: types::Fstflags) -> Result<(), types::Error>;
        async fn poll_oneoff(subs: GuestPtr<types::Subscription>, events: GuestPtr<types::Event>, nsubscriptions: types::Size) -> Result<types::Size, types::Error>;
    }
}
